using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Detektor.Testing;

namespace Detektor.Deploy.Tests;

/// <summary>
/// The systemd notify protocol of deploy/systemd/detektor.service (Type=notify, WatchdogSec), spoken by a real
/// <c>detektor run</c> to a datagram socket standing in for systemd's NOTIFY_SOCKET.
/// </summary>
public sealed class SystemdNotifyTests
{
    [Fact]
    public async Task Run_UnderNotifySocketWithWatchdog_SendsReadyThenWatchdogPingsThenStopping()
    {
        using var dir = new TempDirectory("detektor-notify");
        var socketPath = dir.Combine("notify.sock");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(socketPath));
        var messages = new List<string>();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var receiver = Task.Run(async () =>
        {
            var buffer = new byte[4096];
            while (!cts.IsCancellationRequested)
            {
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                lock (messages)
                {
                    messages.Add(Encoding.ASCII.GetString(buffer, 0, n));
                }
            }
        }, cts.Token);

        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = dir.Path,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            Path.Combine(AppContext.BaseDirectory, "detektor.dll"), "run", "--urls", $"http://127.0.0.1:{FreePort.Next()}", "--data-dir", dir.Combine("data"),
            "--camera", "pattern=testsrc2://",
        })
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["NOTIFY_SOCKET"] = socketPath;
        info.Environment["WATCHDOG_USEC"] = 2_000_000.ToString(CultureInfo.InvariantCulture); // pings every second
        info.Environment["Detektor__Detection__Enabled"] = "false";
        info.Environment["Detektor__Hosting__JsonLogs"] = "false";
        using var sut = Process.Start(info)!;
        sut.OutputDataReceived += (_, _) => { };
        sut.ErrorDataReceived += (_, _) => { };
        sut.BeginOutputReadLine();
        sut.BeginErrorReadLine();
        try
        {
            await Eventually.WaitAsync(() => Count("WATCHDOG=1") >= 3, TimeSpan.FromSeconds(120), "READY=1 and three WATCHDOG=1 pings");
            using (var kill = Process.Start("kill", ["-TERM", sut.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync(TestContext.Current.CancellationToken);
            }

            await Eventually.WaitAsync(() => Count("STOPPING=1") == 1, TimeSpan.FromSeconds(60), "STOPPING=1");
            await sut.WaitForExitAsync(TestContext.Current.CancellationToken);
        }
        finally
        {
            if (!sut.HasExited)
            {
                sut.Kill(entireProcessTree: true);
            }

            await cts.CancelAsync();
        }

        List<string> sent;
        lock (messages)
        {
            sent = [.. messages];
        }

        Assert.StartsWith("READY=1", sent[0], StringComparison.Ordinal);
        Assert.Equal(1, sent.Count(m => m.StartsWith("READY=1", StringComparison.Ordinal)));
        Assert.Equal("STOPPING=1", sent[^1]);
        Assert.Equal(0, sut.ExitCode);

        int Count(string message)
        {
            lock (messages)
            {
                return messages.Count(m => m == message);
            }
        }
    }

    [Theory]
    [InlineData("30000000", 30.0)]
    [InlineData("500", 0.0005)]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData("0", null)]
    [InlineData("-5", null)]
    [InlineData("abc", null)]
    public void WatchdogInterval_FromWatchdogUsec_ParsesMicroseconds(string? usec, double? expectedSeconds)
    {
        var sut = Hosting.Systemd.SystemdNotifyService.WatchdogInterval(usec);

        Assert.Equal(expectedSeconds, sut?.TotalSeconds);
    }
}
