using Detektor.Core.Hosting.Supervision;
using Microsoft.Extensions.Hosting;

namespace Detektor.Core.Hosting;

/// <summary>
/// Base of long-running pipeline loops (processing, the store writer). Unlike <see cref="BackgroundService"/>, whose
/// <c>ExecuteAsync</c> never runs when the host stops before the task was scheduled, <see cref="ExecuteAsync"/> here always
/// runs to completion — so its shutdown path (draining what is queued, recording it) is never skipped and no frame or
/// lifecycle event goes unaccounted. Given a <see cref="LoopSupervisor"/> and a loop name, the loop runs under it:
/// restarted with back-off when it throws, marked failed after too many restarts (see <see cref="SupervisorOptions"/>).
/// </summary>
public abstract class PipelineWorker : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private Task? _execution;

    /// <param name="supervisor">Runs the loop under supervision; null runs it once, unsupervised (tests).</param>
    /// <param name="loopName">The supervised loop's name; null when the worker supervises its own inner loops.</param>
    protected PipelineWorker(LoopSupervisor? supervisor = null, string? loopName = null)
    {
        Supervisor = supervisor;
        LoopName = loopName;
    }

    /// <summary>The supervisor of this worker's loops, if any.</summary>
    protected LoopSupervisor? Supervisor { get; }

    /// <summary>The name <see cref="ExecuteAsync"/> is supervised under (null: not supervised as a whole).</summary>
    protected string? LoopName { get; }

    /// <summary>The running loop (null before start); completes when the loop has drained and returned.</summary>
    public Task? ExecuteTask => _execution;

    public virtual Task StartAsync(CancellationToken cancellationToken)
    {
        // Not Task.Run(…, token): the loop must start even if stopping is requested at once.
        _execution = Supervisor is { } supervisor && LoopName is { } loop
            ? Task.Run(() => supervisor.RunAsync(loop, (_, token) => ExecuteAsync(token), _stopping.Token), CancellationToken.None)
            : Task.Run(() => ExecuteAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    public virtual async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_execution is null)
        {
            return;
        }

        await _stopping.CancelAsync();
        await _execution.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>The loop. When <paramref name="stoppingToken"/> fires, finish or account for what is in hand, then return.</summary>
    protected abstract Task ExecuteAsync(CancellationToken stoppingToken);

    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            _stopping.Dispose();
        }
    }
}
