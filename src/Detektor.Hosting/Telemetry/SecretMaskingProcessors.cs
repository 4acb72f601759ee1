using System.Diagnostics;
using Detektor.Core.Security;
using OpenTelemetry;
using OpenTelemetry.Logs;

namespace Detektor.Hosting.Telemetry;

/// <summary>Masks secrets in every span's string tags and status before any exporter sees it.</summary>
public sealed class SecretMaskingActivityProcessor : BaseProcessor<Activity>
{
    public override void OnEnd(Activity data)
    {
        List<KeyValuePair<string, string>>? changes = null;
        foreach (var tag in data.TagObjects)
        {
            if (tag.Value is string text)
            {
                var masked = SecretMasker.MaskSecrets(text);
                if (!ReferenceEquals(masked, text) && !string.Equals(masked, text, StringComparison.Ordinal))
                {
                    (changes ??= []).Add(new(tag.Key, masked));
                }
            }
        }

        if (changes is not null)
        {
            foreach (var (key, value) in changes)
            {
                data.SetTag(key, value);
            }
        }

        if (data.StatusDescription is { } description)
        {
            data.SetStatus(data.Status, SecretMasker.MaskSecrets(description));
        }
    }
}

/// <summary>Masks secrets in every log record (message, attributes, exception) before any exporter sees it.</summary>
public sealed class SecretMaskingLogProcessor : BaseProcessor<LogRecord>
{
    public override void OnEnd(LogRecord data)
    {
        if (data.FormattedMessage is { } formatted)
        {
            data.FormattedMessage = SecretMasker.MaskSecrets(formatted);
        }

        if (data.Body is { } body)
        {
            data.Body = SecretMasker.MaskSecrets(body);
        }

        if (data.Attributes is { Count: > 0 } attributes)
        {
            var masked = new List<KeyValuePair<string, object?>>(attributes.Count);
            foreach (var (key, value) in attributes)
            {
                masked.Add(new(key, value is string s ? SecretMasker.MaskSecrets(s) : value));
            }

            data.Attributes = masked;
        }

        if (data.Exception is { } exception and not MaskedException)
        {
            data.Exception = new MaskedException(exception);
        }
    }
}

/// <summary>Stands in for an exception whose message or stack may hold a secret: same type name, masked text.</summary>
public sealed class MaskedException : Exception
{
    private readonly string? _stackTrace;

    public MaskedException(Exception original)
        : base($"{original.GetType().FullName}: {SecretMasker.MaskSecrets(original.Message)}")
    {
        _stackTrace = SecretMasker.MaskSecrets(original.StackTrace);
        OriginalType = original.GetType().FullName ?? original.GetType().Name;
    }

    public MaskedException()
    {
        OriginalType = nameof(Exception);
    }

    public MaskedException(string message)
        : base(message)
    {
        OriginalType = nameof(Exception);
    }

    public MaskedException(string message, Exception inner)
        : base(message, inner)
    {
        OriginalType = nameof(Exception);
    }

    public string OriginalType { get; }

    public override string? StackTrace => _stackTrace;
}
