using System.CommandLine;

namespace Detektor.Cli;

/// <summary>The <c>detektor</c> command line. Every command and option is described in <c>detektor --help</c>.</summary>
public static class DetektorCli
{
    public static Task<int> InvokeAsync(string[] args) => Build().Parse(args).InvokeAsync();

    public static RootCommand Build()
    {
        var root = new RootCommand(
            "Detektor: a self-hosted camera-AI platform that watches cameras, detects what matters and can show the journey of every frame.");
        root.Subcommands.Add(RunCommand.Create());
        root.Subcommands.Add(FramesCommand.Create());
        root.Subcommands.Add(HealthCommand.Create());
        root.Subcommands.Add(ModelsCommand.Create());
        root.Subcommands.Add(DbCommand.Create());
        root.Subcommands.Add(ClusterCommand.Create());
        root.Subcommands.Add(SecurityCommand.Create());
        root.Subcommands.Add(LoadTestCommand.Create());
        return root;
    }
}
