using Microsoft.Extensions.Logging;

namespace Detektor.Web;

/// <summary>The web UI's and access control's log messages. API keys and passwords never appear in them.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 9001, Level = LogLevel.Warning, Message = "Refused {Method} {Path}: the API key is not a configured key")]
    public static partial void InvalidApiKey(ILogger logger, string method, string path);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Warning, Message = "Refused {Method} {Path}: the API key '{KeyName}' is read-only")]
    public static partial void ReadOnlyKey(ILogger logger, string keyName, string method, string path);

    [LoggerMessage(EventId = 9003, Level = LogLevel.Information, Message = "User '{User}' signed in")]
    public static partial void SignedIn(ILogger logger, string user);

    [LoggerMessage(EventId = 9004, Level = LogLevel.Warning, Message = "Sign-in refused for user '{User}': unknown user or wrong password")]
    public static partial void SignInRefused(ILogger logger, string user);

    [LoggerMessage(EventId = 9007, Level = LogLevel.Warning, Message = "Sign-in refused for user '{User}': too many failed attempts for the user or the address; try again later")]
    public static partial void SignInThrottled(ILogger logger, string user);

    [LoggerMessage(EventId = 9008, Level = LogLevel.Warning, Message = "Access control is off (Detektor:Security:Mode=Open) although Detektor listens beyond loopback ({Addresses}): anyone who can reach it can use the API and the UI")]
    public static partial void OpenBeyondLoopback(ILogger logger, string addresses);

    [LoggerMessage(EventId = 9005, Level = LogLevel.Information, Message = "Access control: {State} (mode {Mode}, listening on {Addresses}); {Keys} API keys, {Users} users; open paths: {OpenPaths}")]
    public static partial void AccessState(ILogger logger, string state, string mode, string addresses, int keys, int users, string openPaths);

    [LoggerMessage(EventId = 9006, Level = LogLevel.Warning, Message = "Access control is required but no API key and no user is configured: every request except the open paths is refused (see docs/configuration.md, Security)")]
    public static partial void NoCredentials(ILogger logger);
}
