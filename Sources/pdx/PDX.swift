import ArgumentParser

@main
struct PDX: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pdx",
        abstract: "pdx: the public data exchange backend.",
        discussion: """
            Configure the database with DATABASE_URL (a libpq URI or key=value string) or --database-url. \
            Without either, `pdx dev` runs its own PostgreSQL under ./.pdx/.
            """,
        version: "0.1.0",
        subcommands: [Dev.self, Demo.self, Serve.self, Work.self, Migrate.self, Bench.self]
    )
}
