using Microsoft.AspNetCore.Http;

namespace Detektor.Api.Http;

/// <summary>RFC 9457 answers that name the offending field (<c>errors: { field: [message] }</c>).</summary>
public static class ApiProblems
{
    public static IResult Field(string field, string message) =>
        Results.ValidationProblem(
            new Dictionary<string, string[]>(StringComparer.Ordinal) { [field] = [message] },
            detail: $"{field}: {message}",
            title: "The request is not valid.");

    public static IResult Fields(IReadOnlyDictionary<string, string> errors) =>
        Results.ValidationProblem(
            errors.ToDictionary(kv => kv.Key, kv => new[] { kv.Value }, StringComparer.Ordinal),
            detail: string.Join("; ", errors.Select(kv => $"{kv.Key}: {kv.Value}")),
            title: "The request is not valid.");

    public static IResult NotFound(string what) =>
        Results.Problem(detail: what, statusCode: StatusCodes.Status404NotFound, title: "Not found.");
}

/// <summary>Collects validation errors for one request, keyed by field name.</summary>
public sealed class FieldErrors
{
    private readonly Dictionary<string, string> _errors = new(StringComparer.Ordinal);

    public bool Any => _errors.Count > 0;

    public void Add(string field, string message) => _errors.TryAdd(field, message);

    public IResult ToResult() => ApiProblems.Fields(_errors);
}
