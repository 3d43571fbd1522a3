#!/usr/bin/env python3
"""Checks a running `moe serve` with OpenAI's own Python client (the `openai` package).

Starts nothing itself: give the server's base URL (e.g. http://127.0.0.1:8080). Lists the models, runs a chat
completion whole and streamed at temperature 0 with a seed, and a text completion, and exits non-zero when
the client fails or the whole and streamed replies differ.

    python3 Tools/scripts/openai-client-check.py http://127.0.0.1:8080 [--api-key KEY]
"""
import argparse
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base_url", help="the server's URL, without /v1")
    parser.add_argument("--api-key", default="none", help="the server's --api-key (any text when it has none)")
    args = parser.parse_args()
    try:
        import openai
    except ImportError:
        print("openai-client-check: the openai package is not installed (pip install openai)", file=sys.stderr)
        return 2

    client = openai.OpenAI(base_url=args.base_url.rstrip("/") + "/v1", api_key=args.api_key, timeout=300, max_retries=0)
    failures = []

    models = [m.id for m in client.models.list().data]
    print(f"models: {models}")
    if len(models) != 1:
        failures.append(f"expected one model, got {models}")
    model = models[0] if models else "any"

    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Tell me about foxes."}]
    whole = client.chat.completions.create(model=model, messages=messages, max_tokens=32, temperature=0, seed=1)
    text = whole.choices[0].message.content or ""
    print(f"chat: {text!r} (finish {whole.choices[0].finish_reason}, usage {whole.usage.prompt_tokens}+{whole.usage.completion_tokens})")
    if not text:
        failures.append("the chat completion is empty")
    if whole.usage.total_tokens != whole.usage.prompt_tokens + whole.usage.completion_tokens:
        failures.append(f"usage does not add up: {whole.usage}")

    pieces, finish, usage = [], None, None
    stream = client.chat.completions.create(model=model, messages=messages, max_tokens=32, temperature=0, seed=1, stream=True,
                                            stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    streamed = "".join(pieces)
    print(f"chat streamed: {streamed!r} (finish {finish})")
    if streamed != text:
        failures.append(f"streamed text differs from the whole reply:\n  whole:    {text!r}\n  streamed: {streamed!r}")
    if finish != whole.choices[0].finish_reason:
        failures.append(f"finish_reason differs: {whole.choices[0].finish_reason} vs {finish}")
    if usage is None or usage.completion_tokens != whole.usage.completion_tokens:
        failures.append(f"the streamed usage chunk is missing or differs: {usage}")

    completion = client.completions.create(model=model, prompt="In the beginning", max_tokens=16, temperature=0)
    print(f"completion: {completion.choices[0].text!r}")
    if not completion.choices[0].text:
        failures.append("the text completion is empty")

    try:
        client.chat.completions.create(model=model, messages=[], max_tokens=4)
        failures.append("empty messages were accepted")
    except openai.BadRequestError as e:
        print(f"empty messages refused as expected: {e.status_code}")

    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    print("openai-client-check: " + ("ok" if not failures else f"{len(failures)} failure(s)"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
