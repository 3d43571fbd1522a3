print("moe")
