namespace Detektor.Core.Frames;

/// <summary>
/// Rules for camera identifiers. A camera id is 1–64 characters of ASCII letters, digits, '_' and '-', starting with a
/// letter or digit. It appears in frame ids, URLs, metric labels and file names, so it must stay this plain.
/// </summary>
public static class CameraId
{
    public const int MaxLength = 64;

    public const string Rule = "1-64 characters of letters, digits, '_' or '-', starting with a letter or digit";

    public static bool IsValid(ReadOnlySpan<char> value)
    {
        if (value.IsEmpty || value.Length > MaxLength || !char.IsAsciiLetterOrDigit(value[0]))
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '_' && c != '-')
            {
                return false;
            }
        }

        return true;
    }
}
