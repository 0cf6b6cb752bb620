import ArgumentParser

@main
struct SD: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sd",
        abstract: "Stable Diffusion on the CPU, in Swift.",
        subcommands: [GenerateCommand.self, ServeCommand.self])
}
