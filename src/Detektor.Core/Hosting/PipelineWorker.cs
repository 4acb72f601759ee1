using Microsoft.Extensions.Hosting;

namespace Detektor.Core.Hosting;

/// <summary>
/// Base of long-running pipeline loops (processing, the store writer). Unlike <see cref="BackgroundService"/>, whose
/// <c>ExecuteAsync</c> never runs when the host stops before the task was scheduled, <see cref="ExecuteAsync"/> here always
/// runs to completion — so its shutdown path (draining what is queued, recording it) is never skipped and no frame or
/// lifecycle event goes unaccounted.
/// </summary>
public abstract class PipelineWorker : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private Task? _execution;

    /// <summary>The running loop (null before start); completes when the loop has drained and returned.</summary>
    public Task? ExecuteTask => _execution;

    public virtual Task StartAsync(CancellationToken cancellationToken)
    {
        // Not Task.Run(…, token): the loop must start even if stopping is requested at once.
        _execution = Task.Run(() => ExecuteAsync(_stopping.Token), CancellationToken.None);
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
