import ArgumentParser
import Foundation
struct Record: ParsableCommand {}
