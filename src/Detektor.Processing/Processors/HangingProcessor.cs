using Detektor.Processing.Pipeline;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Detektor.Processing.Processors;

/// <summary>
/// TEST HOOK for fault-injection tests of the supervisor's watchdog: hangs for ever on the <c>N</c>th frame it sees
/// (counting from 1, over all consumers), ignoring cancellation — the way a deadlocked native call or a blocking read
/// would. Every other frame passes through untouched. Enabled only with <c>Detektor:Processing:TestHooks:HangOnFrame</c> &gt; 0
/// (docs/configuration.md); never enable it in production.
/// </summary>
public sealed class HangingProcessor(long hangOnFrame) : FrameProcessor
{
    public const string ConfigurationKey = "Detektor:Processing:TestHooks:HangOnFrame";

    private readonly TaskCompletionSource _never = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _seen;

    public override string Name => "test-hang";

    /// <summary>Frames this processor has seen (the hung one included).</summary>
    public long Seen => Interlocked.Read(ref _seen);

    public override async ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _seen) == hangOnFrame)
        {
            await _never.Task; // deliberately deaf to cancellation
        }

        return ProcessorResult.Continue;
    }
}

public static class HangingProcessorExtensions
{
    /// <summary>Adds the <see cref="HangingProcessor"/> test hook when <see cref="HangingProcessor.ConfigurationKey"/> is set.</summary>
    public static IHostApplicationBuilder AddTestHookProcessors(this IHostApplicationBuilder builder)
    {
        if (builder.Configuration.GetValue<long>(HangingProcessor.ConfigurationKey) is > 0 and var frame)
        {
            builder.Services.AddSingleton(new HangingProcessor(frame));
            builder.Services.AddSingleton<FrameProcessor>(sp => sp.GetRequiredService<HangingProcessor>());
        }

        return builder;
    }
}
