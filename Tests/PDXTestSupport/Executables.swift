public import Foundation

/// The `pdx` executable built with the tests (`swift build` puts it beside the test bundle), or
/// `PDX_EXECUTABLE`.
public func pdxExecutable() throws -> URL {
    var candidates: [URL] = []
    if let path = ProcessInfo.processInfo.environment["PDX_EXECUTABLE"] { candidates.append(URL(fileURLWithPath: path)) }
    let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var folder = testBinary.deletingLastPathComponent()
    for _ in 0..<4 {
        candidates.append(folder.appendingPathComponent("pdx"))
        folder = folder.deletingLastPathComponent()
    }
    candidates.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".build/debug/pdx"))
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) && !$0.hasDirectoryPath }) else {
        throw MissingExecutable(looked: candidates.map(\.path))
    }
    return found
}

public struct MissingExecutable: Error, CustomStringConvertible {
    public var looked: [String]
    public var description: String {
        "the pdx executable was not found (build it with `swift build`, or set PDX_EXECUTABLE); looked at:\n" + looked.joined(separator: "\n")
    }
}

/// Runs a built executable (`pdx` or `pdxctl`) to its end, killing it after a minute so that a command
/// that should have refused its arguments but runs instead cannot hang the suite.
public func runBuilt(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
    let process = Process()
    process.executableURL = try pdxExecutable().deletingLastPathComponent().appendingPathComponent(executable)
    process.arguments = arguments
    let output = Pipe(), error = Pipe()
    process.standardOutput = output
    process.standardError = error
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let watchdog = DispatchWorkItem { [process] in if process.isRunning { process.terminate() } }
    DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: watchdog)
    defer { watchdog.cancel() }
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
}
