using System.CommandLine;
using Detektor.Composition;

namespace Detektor.Cli;

/// <summary>The options that shape configuration, shared by <c>run</c> and <c>db</c>: data dir, config files, --set, --postgres.</summary>
internal sealed class SettingsOptions
{
    public Option<string> DataDir { get; } = new("--data-dir")
    {
        Description = "Directory for all state (event store, journal, models, snapshots).",
        DefaultValueFactory = _ => "data",
    };

    public Option<string[]> Config { get; } = new("--config")
    {
        Description = "A configuration file, JSON (.json) or YAML (.yaml, .yml), repeatable; see docs/configuration.md.",
    };

    public Option<string[]> Set { get; } = new("--set")
    {
        Description = "A configuration value as KEY=VALUE (repeatable), e.g. --set Detektor:Bus:FramesCapacity=128.",
    };

    public Option<string> Postgres { get; } = new("--postgres")
    {
        Description = "Store events in PostgreSQL (TimescaleDB when installed) instead of SQLite: a connection string, " +
                      "e.g. \"Host=db;Database=detektor;Username=detektor;Password=…\" or postgresql://user:…@db/detektor. " +
                      "It is a secret: prefer the environment variable Detektor__Storage__PostgresConnectionString.",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(DataDir);
        command.Options.Add(Config);
        command.Options.Add(Set);
        command.Options.Add(Postgres);
    }

    /// <summary>Reads the options into <paramref name="settings"/>; false with a one-line error when one is malformed.</summary>
    public bool TryRead(ParseResult parse, RunSettings baseSettings, out RunSettings settings, out string? error)
    {
        settings = baseSettings;
        error = null;
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var item in parse.GetValue(Set) ?? [])
        {
            var eq = item.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                error = "--set: expected KEY=VALUE, e.g. --set Detektor:Bus:FramesCapacity=128.";
                return false;
            }

            values[item[..eq]] = item[(eq + 1)..];
        }

        if (parse.GetValue(Postgres) is { } postgres)
        {
            if (string.IsNullOrWhiteSpace(postgres))
            {
                error = "--postgres: expected a connection string, e.g. --postgres \"Host=db;Database=detektor;Username=detektor;Password=***\".";
                return false;
            }

            values["Detektor:Storage:Provider"] = "postgres";
            values["Detektor:Storage:PostgresConnectionString"] = postgres;
        }

        settings = baseSettings with
        {
            DataDir = parse.GetValue(DataDir) ?? "data",
            ConfigFiles = parse.GetValue(Config) ?? [],
            Settings = values,
        };
        return true;
    }
}
