using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Detektor.Core.Configuration;

/// <summary>
/// DataAnnotations validation whose failures name the full configuration key and what is allowed, one line each, e.g.
/// <c>Detektor:Bus:FramesCapacity: 0 is out of range; allowed 1 to 100000.</c>
/// </summary>
public sealed class KeyedDataAnnotationsValidator<TOptions>(string section) : IValidateOptions<TOptions>
    where TOptions : class
{
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        var failures = new List<string>();
        ValidateMembers(options, section, failures);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>Checks every property's attributes; descends into properties marked <see cref="ValidateObjectMembersAttribute"/>.</summary>
    private static void ValidateMembers(object options, string prefix, List<string> failures)
    {
        foreach (var property in options.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (!property.CanRead || property.GetIndexParameters().Length > 0)
            {
                continue;
            }

            var value = property.GetValue(options);
            foreach (var attribute in property.GetCustomAttributes<ValidationAttribute>(inherit: true))
            {
                if (!attribute.IsValid(value))
                {
                    failures.Add($"{prefix}:{property.Name}: {Describe(attribute, value, property.Name)}");
                }
            }

            if (value is not null && property.IsDefined(typeof(ValidateObjectMembersAttribute), inherit: true))
            {
                ValidateMembers(value, $"{prefix}:{property.Name}", failures);
            }
        }
    }

    private static string Describe(ValidationAttribute attribute, object? value, string member) => attribute switch
    {
        RangeAttribute range => string.Format(CultureInfo.InvariantCulture, "{0} is out of range; allowed {1} to {2}.", value, range.Minimum, range.Maximum),
        RequiredAttribute => "is required.",
        RegularExpressionAttribute regex => string.Format(CultureInfo.InvariantCulture, "'{0}' is not allowed; it must match {1}.", value, regex.Pattern),
        AllowedValuesAttribute allowed => string.Format(CultureInfo.InvariantCulture, "'{0}' is not allowed; use one of: {1}.", value, string.Join(", ", allowed.Values)),
        _ => attribute.FormatErrorMessage(member),
    };
}

public static class KeyedOptionsValidationExtensions
{
    /// <summary>Validates the options' DataAnnotations at start, naming keys under <paramref name="section"/>.</summary>
    public static OptionsBuilder<TOptions> ValidateKeyed<TOptions>(this OptionsBuilder<TOptions> builder, string section)
        where TOptions : class
    {
        builder.Services.AddSingleton<IValidateOptions<TOptions>>(new KeyedDataAnnotationsValidator<TOptions>(section));
        return builder.ValidateOnStart();
    }
}
