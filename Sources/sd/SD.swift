import ArgumentParser

@main
struct SD: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sd",
        abstract: "Stable Diffusion on the CPU, in Swift.",
        subcommands: [GenerateCommand.self])
}
