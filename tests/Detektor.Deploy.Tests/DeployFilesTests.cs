using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Detektor.Testing;
using YamlDotNet.RepresentationModel;

namespace Detektor.Deploy.Tests;

/// <summary>
/// The Dockerfile, compose files, Kubernetes manifests and systemd unit, checked against the code: they parse, the files
/// they reference exist, ports and probe paths are the real ones, every Detektor__ variable is a real configuration key and
/// every CLI flag exists. (No Docker engine or Kubernetes cluster runs here: docs/operations.md.)
/// </summary>
public sealed partial class DeployFilesTests
{
    private static readonly string[] Roles = ["capture", "process", "store", "api"];

    private static string Compose(string name) => DeployFiles.Path("compose", name);

    private static IEnumerable<string> ComposeFiles => Directory.GetFiles(DeployFiles.Path("compose"), "docker-compose*.yml");

    private static IEnumerable<string> KubernetesFiles => Directory.GetFiles(DeployFiles.Path("kubernetes"), "*.yaml");

    [Fact]
    public void DeployFiles_EveryYamlAndJson_Parses()
    {
        var files = Directory.GetFiles(DeployFiles.Root, "*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".yml", StringComparison.Ordinal) || f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".json", StringComparison.Ordinal))
            .ToList();
        Assert.True(files.Count >= 20, $"only {files.Count} files");

        foreach (var file in files)
        {
            if (file.EndsWith(".json", StringComparison.Ordinal))
            {
                using var _ = JsonDocument.Parse(File.ReadAllText(file));
            }
            else
            {
                Assert.NotEmpty(DeployFiles.LoadYaml(file));
            }
        }
    }

    [Fact]
    public void Dockerfile_MultiStageNonRootWithFfmpegAndHealthCheck_OnTheServedPort()
    {
        var sut = File.ReadAllLines(DeployFiles.Path("docker", "Dockerfile"));

        Assert.True(sut.Count(l => l.StartsWith("FROM ", StringComparison.Ordinal)) >= 2);
        var user = Assert.Single(sut, l => l.StartsWith("USER ", StringComparison.Ordinal));
        Assert.DoesNotMatch(@"^USER (root|0)(:|$)", user);
        Assert.Contains(sut, l => l.Contains("apt-get install", StringComparison.Ordinal) && l.Contains("ffmpeg", StringComparison.Ordinal));
        var healthcheck = string.Join(' ', sut.SkipWhile(l => !l.StartsWith("HEALTHCHECK", StringComparison.Ordinal)).Take(2));
        Assert.Contains("http://127.0.0.1:8080/health", healthcheck, StringComparison.Ordinal);
        Assert.Contains("EXPOSE 8080", sut);
        Assert.Contains("\"--urls\", \"http://0.0.0.0:8080\"", Assert.Single(sut, l => l.StartsWith("CMD ", StringComparison.Ordinal)), StringComparison.Ordinal);
        // What it copies from the build context exists.
        foreach (var copy in sut.Where(l => l.StartsWith("COPY ", StringComparison.Ordinal) && !l.Contains("--from", StringComparison.Ordinal)))
        {
            foreach (var source in copy.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..^1])
            {
                Assert.True(Path.Exists(Path.Combine(Repository.Root, source)), $"COPY source {source} is missing");
            }
        }
    }

    [Fact]
    public void ComposeFiles_ReferencedFilesAndBuildContext_Exist()
    {
        foreach (var file in ComposeFiles)
        {
            var dir = Path.GetDirectoryName(file)!;
            var services = DeployFiles.LoadSingleYaml(file).Child("services") as YamlMappingNode;
            Assert.NotNull(services);
            foreach (var (_, service) in services.Children)
            {
                if (service.Child("build") is { } build)
                {
                    var context = Path.GetFullPath(Path.Combine(dir, build.Scalar("context")!));
                    Assert.True(File.Exists(Path.Combine(context, build.Scalar("dockerfile")!)), $"{file}: dockerfile");
                }

                foreach (var volume in service.Child("volumes").Items().Cast<YamlScalarNode>().Select(v => v.Value!))
                {
                    var host = volume.Split(':')[0];
                    if (host.StartsWith('.'))
                    {
                        Assert.True(Path.Exists(Path.Combine(dir, host)), $"{Path.GetFileName(file)}: volume source {host} is missing");
                    }
                }
            }
        }
    }

    [Fact]
    public void DistributedCompose_EveryRole_RunsOnce_AndPrometheusAlertmanagerAndGrafanaPointAtTheServices()
    {
        var services = (YamlMappingNode)DeployFiles.LoadSingleYaml(Compose("docker-compose.distributed.yml")).Child("services")!;
        var names = services.Children.Keys.Cast<YamlScalarNode>().Select(k => k.Value!).ToHashSet(StringComparer.Ordinal);

        var roles = services.Children.Values.Select(s => Args(s.Child("command"))).Where(a => a.Count > 0 && a[0] == "run")
            .Select(a => a[a.IndexOf("--roles") + 1]).Order(StringComparer.Ordinal);
        Assert.Equal(Roles.Order(StringComparer.Ordinal), roles);
        foreach (var required in new[] { "redis", "postgres", "jaeger", "prometheus", "alertmanager", "grafana", "loki" })
        {
            Assert.Contains(required, names);
        }

        var prometheus = DeployFiles.LoadSingleYaml(Compose("prometheus-distributed.yml"));
        var dnsNames = prometheus.Child("scrape_configs").Items().Single().Child("dns_sd_configs").Items().Single().Child("names").Items()
            .Cast<YamlScalarNode>().Select(n => n.Value!);
        Assert.All(dnsNames, n => Assert.Contains(n, names));
        var alertmanager = prometheus.Child("alerting")!.Child("alertmanagers").Items().Single().Child("static_configs").Items().Single().Child("targets").Items().Single();
        Assert.Equal("alertmanager:9093", ((YamlScalarNode)alertmanager).Value);
        var grafanaMounts = services.Children[new YamlScalarNode("grafana")].Child("volumes").Items().Cast<YamlScalarNode>().Select(v => v.Value!).ToList();
        Assert.Contains("../grafana/dashboards:/var/lib/grafana/dashboards/detektor:ro", grafanaMounts);
    }

    [Fact]
    public void KubernetesDeployments_OnePerRole_ProbesOnTheRealEndpointsAndPort()
    {
        var deployments = KubernetesFiles.SelectMany(DeployFiles.LoadYaml).Where(d => d.Scalar("kind") == "Deployment").ToList();
        var roles = new List<string>();

        foreach (var deployment in deployments)
        {
            var container = deployment.Child("spec")!.Child("template")!.Child("spec")!.Child("containers").Items().Single();
            var args = Args(container.Child("args"));
            roles.Add(args[args.IndexOf("--roles") + 1]);
            Assert.Equal("http://0.0.0.0:8080", args[args.IndexOf("--urls") + 1]);
            var port = container.Child("ports").Items().Single();
            Assert.Equal(("http", "8080"), (port.Scalar("name"), port.Scalar("containerPort")));
            Assert.Equal("/startup", container.Child("startupProbe")!.Child("httpGet")!.Scalar("path"));
            Assert.Equal("/health", container.Child("livenessProbe")!.Child("httpGet")!.Scalar("path"));
            Assert.Equal("/ready", container.Child("readinessProbe")!.Child("httpGet")!.Scalar("path"));
            Assert.Equal("true", deployment.Child("spec")!.Child("template")!.Child("spec")!.Child("securityContext")!.Scalar("runAsNonRoot"));
            // Discovery advertises the pod IP on the served port.
            var env = container.Child("env").Items().ToDictionary(e => e.Scalar("name")!, e => e.Scalar("value"), StringComparer.Ordinal);
            Assert.Equal("http://$(POD_IP):8080", env["Detektor__Discovery__AdvertiseUrl"]);
        }

        Assert.Equal(Roles.Order(StringComparer.Ordinal), roles.Order(StringComparer.Ordinal));
        // The probe paths are the ones Detektor maps.
        var endpoints = File.ReadAllText(Path.Combine(Repository.Root, "src", "Detektor.Hosting", "Health", "HealthEndpoints.cs"));
        foreach (var path in new[] { "/health", "/ready", "/startup" })
        {
            Assert.Contains($"MapGet(\"{path}\"", endpoints, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Kustomization_Resources_ExistAndConfigMapAndSecretReferencesResolve()
    {
        var resources = DeployFiles.LoadSingleYaml(DeployFiles.Path("kubernetes", "kustomization.yaml")).Child("resources").Items()
            .Cast<YamlScalarNode>().Select(r => r.Value!).ToList();
        Assert.Equal(KubernetesFiles.Select(Path.GetFileName).Where(f => f != "kustomization.yaml").Order(StringComparer.Ordinal), resources.Order(StringComparer.Ordinal));

        var documents = KubernetesFiles.SelectMany(DeployFiles.LoadYaml).ToList();
        var configMaps = documents.Where(d => d.Scalar("kind") == "ConfigMap").Select(d => d.Child("metadata")!.Scalar("name")).ToHashSet();
        var secrets = documents.Where(d => d.Scalar("kind") == "Secret").Select(d => d.Child("metadata")!.Scalar("name")).ToHashSet();
        foreach (var envFrom in documents.Where(d => d.Scalar("kind") == "Deployment")
            .SelectMany(d => d.Child("spec")!.Child("template")!.Child("spec")!.Child("containers").Items())
            .SelectMany(c => c.Child("envFrom").Items()))
        {
            if (envFrom.Child("configMapRef") is { } cm)
            {
                Assert.Contains(cm.Scalar("name"), configMaps);
            }

            if (envFrom.Child("secretRef") is { } secret)
            {
                Assert.Contains(secret.Scalar("name"), secrets);
            }
        }
    }

    [Fact]
    public void EnvironmentVariables_DetektorNames_AreRealConfigurationKeys()
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var file in Directory.GetFiles(DeployFiles.Root, "*", SearchOption.AllDirectories))
        {
            foreach (Match match in EnvName().Matches(File.ReadAllText(file)))
            {
                names.Add(match.Value);
            }
        }

        Assert.Contains("Detektor__Storage__PostgresConnectionString", names);
        Assert.Contains("Detektor__Bus__Redis__Configuration", names);
        var unknown = names.Where(n => !ConfigurationKeys.Exists(n.Replace("__", ":", StringComparison.Ordinal))).ToList();
        Assert.True(unknown.Count == 0, "not configuration keys: " + string.Join(", ", unknown));
    }

    [Fact]
    public async Task CommandLines_EveryFlag_IsAnOptionOfDetektorRun()
    {
        var commandLines = new List<List<string>>();
        foreach (var file in ComposeFiles)
        {
            var services = (YamlMappingNode)DeployFiles.LoadSingleYaml(file).Child("services")!;
            commandLines.AddRange(services.Children.Values.Select(s => Args(s.Child("command"))).Where(a => a.Count > 0 && a[0] == "run"));
        }

        commandLines.AddRange(KubernetesFiles.SelectMany(DeployFiles.LoadYaml).Where(d => d.Scalar("kind") == "Deployment")
            .Select(d => Args(d.Child("spec")!.Child("template")!.Child("spec")!.Child("containers").Items().Single().Child("args"))));
        var cmd = File.ReadAllLines(DeployFiles.Path("docker", "Dockerfile")).Single(l => l.StartsWith("CMD ", StringComparison.Ordinal));
        commandLines.Add(JsonSerializer.Deserialize<List<string>>(cmd[4..])!);
        var exec = File.ReadAllLines(DeployFiles.Path("systemd", "detektor.service")).Single(l => l.StartsWith("ExecStart=", StringComparison.Ordinal));
        commandLines.Add([.. exec.Split(' ').SkipWhile(a => a != "run")]);
        Assert.True(commandLines.Count >= 10);

        var (code, help) = await Tool.RunAsync("dotnet", Path.GetTempPath(), Path.Combine(AppContext.BaseDirectory, "detektor.dll"), "run", "--help");
        Assert.Equal(0, code);
        var options = HelpOption().Matches(help).Select(m => m.Value).ToHashSet(StringComparer.Ordinal);
        Assert.Contains("--roles", options);

        foreach (var line in commandLines)
        {
            Assert.Equal("run", line[0]);
            Assert.All(line.Where(a => a.StartsWith("--", StringComparison.Ordinal)), flag => Assert.Contains(flag, options));
            if (line.IndexOf("--roles") is var i and >= 0)
            {
                Assert.All(line[i + 1].Split(','), role => Assert.Contains(role, Roles));
            }
        }
    }

    [Fact]
    public async Task SystemdUnit_NotifyWithWatchdog_VerifiesClean()
    {
        var analyze = RequiredTool.Find("systemd-analyze");
        var unit = File.ReadAllLines(DeployFiles.Path("systemd", "detektor.service"));

        Assert.Contains("Type=notify", unit);
        Assert.Contains(unit, l => l.StartsWith("WatchdogSec=", StringComparison.Ordinal));
        Assert.Contains("RestartPreventExitStatus=2", unit); // exit code 2 = configuration error (README)
        var (code, output) = await Tool.RunAsync(analyze, Path.GetTempPath(), "verify", DeployFiles.Path("systemd", "detektor.service"));
        Assert.True(code == 0 && output.Trim().Length == 0, output);
    }

    [Fact]
    public async Task PrometheusConfigs_WithTheRepositoryAlerts_PassPromtoolCheckConfig()
    {
        var promtool = RequiredTool.Find("promtool");
        using var dir = new TempDirectory("detektor-promconfig");
        foreach (var config in new[] { DeployFiles.Path("prometheus", "prometheus.yml"), Compose("prometheus-distributed.yml") })
        {
            // The container mounts alerts.yml at /etc/prometheus/alerts.yml.
            var copy = dir.Combine(Path.GetFileName(config));
            await File.WriteAllTextAsync(copy, (await File.ReadAllTextAsync(config, TestContext.Current.CancellationToken)).Replace("/etc/prometheus/alerts.yml", DeployFiles.Path("prometheus", "alerts.yml"), StringComparison.Ordinal), TestContext.Current.CancellationToken);

            var (code, output) = await Tool.RunAsync(promtool, dir.Path, "check", "config", copy);

            Assert.True(code == 0, output);
        }
    }

    private static List<string> Args(YamlNode? node) => [.. node.Items().Cast<YamlScalarNode>().Select(s => s.Value!)];

    [GeneratedRegex(@"\bDetektor__[A-Za-z0-9_]+", RegexOptions.CultureInvariant)]
    private static partial Regex EnvName();

    [GeneratedRegex(@"--[a-z][a-z-]+", RegexOptions.CultureInvariant)]
    private static partial Regex HelpOption();
}

/// <summary>Whether a configuration key is read by Detektor: an options class bound to a section has the property path, or the code reads the key literally.</summary>
internal static class ConfigurationKeys
{
    private static readonly Lazy<Dictionary<string, Type>> Sections = new(LoadSections);

    private static readonly Lazy<string> Source = new(() => string.Join('\n',
        Directory.GetFiles(Path.Combine(Repository.Root, "src"), "*.cs", SearchOption.AllDirectories).Select(File.ReadAllText)));

    public static bool Exists(string key)
    {
        if (Source.Value.Contains($"\"{key}\"", StringComparison.Ordinal))
        {
            return true;
        }

        var section = Sections.Value.Keys.Where(s => key.StartsWith(s + ":", StringComparison.OrdinalIgnoreCase)).MaxBy(s => s.Length);
        return section is not null && Resolves(Sections.Value[section], key[(section.Length + 1)..].Split(':'));
    }

    private static bool Resolves(Type type, string[] path)
    {
        if (path.Length == 0)
        {
            return true;
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>))
        {
            return Resolves(type.GetGenericArguments()[1], path[1..]);
        }

        if (type.IsArray || (type.IsGenericType && type.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>)) && type != typeof(string)))
        {
            var element = type.IsArray ? type.GetElementType()! : type.GetGenericArguments()[0];
            return int.TryParse(path[0], out _) && Resolves(element, path[1..]);
        }

        var property = type.GetProperty(path[0], BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
        return property is not null && Resolves(property.PropertyType, path[1..]);
    }

    private static Dictionary<string, Type> LoadSections()
    {
        var result = new Dictionary<string, Type>(StringComparer.OrdinalIgnoreCase);
        foreach (var file in Directory.GetFiles(AppContext.BaseDirectory, "Detektor.*.dll"))
        {
            Type[] types;
            try
            {
                types = Assembly.LoadFrom(file).GetTypes();
            }
            catch (ReflectionTypeLoadException ex)
            {
                types = [.. ex.Types.OfType<Type>()];
            }

            foreach (var type in types)
            {
                // SectionName binds the type itself; XSectionName (e.g. CamerasSectionName) binds the type's property X.
                foreach (var field in type.GetFields(BindingFlags.Public | BindingFlags.Static)
                    .Where(f => f.IsLiteral && f.Name.EndsWith("SectionName", StringComparison.Ordinal)))
                {
                    if (field.GetRawConstantValue() is not string section || !section.StartsWith("Detektor", StringComparison.Ordinal))
                    {
                        continue;
                    }

                    var property = field.Name[..^"SectionName".Length];
                    var bound = property.Length == 0 ? type : type.GetProperty(property)?.PropertyType;
                    if (bound is not null)
                    {
                        result[section] = bound;
                    }
                }
            }
        }

        return result;
    }
}
