using System.Buffers;
using Detektor.Core.Frames;

namespace Detektor.Imaging;

/// <summary>
/// Conversions between planar yuv420p (the Y plane, then U and V at half the width and height) and rgb24, with the
/// BT.601 limited-range matrix ffmpeg's scaler uses by default. Integer arithmetic (8 fractional bits), no allocation.
/// Capture produces yuv420p (ADR 0008); these run only where a consumer needs rgb24: the detector's letterbox (one row
/// at a time), snapshots, JPEG for the API and the bus.
/// </summary>
public static class Yuv420p
{
    /// <summary>
    /// Converts columns [<paramref name="x0"/>, <paramref name="x1"/>) of row <paramref name="y"/> into
    /// <paramref name="rgbRow"/> (a whole rgb24 row of <paramref name="width"/> pixels; other columns are left as they are).
    /// </summary>
    public static void ToRgb24Row(ReadOnlySpan<byte> yuv, int width, int height, int y, int x0, int x1, Span<byte> rgbRow)
    {
        Check(yuv, width, height);
        ArgumentOutOfRangeException.ThrowIfLessThan(rgbRow.Length, width * 3, nameof(rgbRow));
        var chromaWidth = width / 2;
        var luma = yuv.Slice(y * width, width);
        var chromaRow = (y / 2) * chromaWidth;
        var u = yuv.Slice((width * height) + chromaRow, chromaWidth);
        var v = yuv.Slice((width * height) + (width * height / 4) + chromaRow, chromaWidth);
        x0 = Math.Clamp(x0, 0, width);
        x1 = Math.Clamp(x1, x0, width);
        var row = rgbRow[..(width * 3)];
        for (var x = x0; x < x1; x++)
        {
            // Tables instead of multiplications: the same integer results as the formulas at the end of this class.
            var c = YTerm[luma[x]];
            int d = u[x >> 1], e = v[x >> 1];
            var o = x * 3;
            row[o] = Clamp((c + VToR[e]) >> 8);
            row[o + 1] = Clamp((c + UToG[d] + VToG[e]) >> 8);
            row[o + 2] = Clamp((c + UToB[d]) >> 8);
        }
    }

    // 298 (Y − 16) + 128 (the rounding), and each chroma term, for every byte value.
    private static readonly int[] YTerm = Table(i => (298 * (i - 16)) + 128);
    private static readonly int[] VToR = Table(i => 409 * (i - 128));
    private static readonly int[] UToG = Table(i => -100 * (i - 128));
    private static readonly int[] VToG = Table(i => -208 * (i - 128));
    private static readonly int[] UToB = Table(i => 516 * (i - 128));

    private static int[] Table(Func<int, int> f) => [.. Enumerable.Range(0, 256).Select(f)];

    /// <summary>Converts a whole yuv420p frame into <paramref name="rgb24"/> (<c>width × height × 3</c> bytes).</summary>
    public static void ToRgb24(ReadOnlySpan<byte> yuv, int width, int height, Span<byte> rgb24)
    {
        Check(yuv, width, height);
        ArgumentOutOfRangeException.ThrowIfLessThan(rgb24.Length, width * height * 3, nameof(rgb24));
        for (var y = 0; y < height; y++)
        {
            ToRgb24Row(yuv, width, height, y, 0, width, rgb24.Slice(y * width * 3, width * 3));
        }
    }

    /// <summary>
    /// Converts rgb24 into yuv420p (each U and V sample the mean of its 2 × 2 block) — for a JPEG that arrives on the bus
    /// for a yuv420p frame, and for tests.
    /// </summary>
    public static void FromRgb24(ReadOnlySpan<byte> rgb24, int width, int height, Span<byte> yuv)
    {
        Check(yuv, width, height);
        ArgumentOutOfRangeException.ThrowIfLessThan(rgb24.Length, width * height * 3, nameof(rgb24));
        var chromaWidth = width / 2;
        var uPlane = yuv.Slice(width * height, width * height / 4);
        var vPlane = yuv.Slice((width * height) + (width * height / 4), width * height / 4);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var p = ((y * width) + x) * 3;
                yuv[(y * width) + x] = Clamp((((66 * rgb24[p]) + (129 * rgb24[p + 1]) + (25 * rgb24[p + 2]) + 128) >> 8) + 16);
            }
        }

        for (var cy = 0; cy < height / 2; cy++)
        {
            for (var cx = 0; cx < chromaWidth; cx++)
            {
                int r = 0, g = 0, b = 0;
                for (var dy = 0; dy < 2; dy++)
                {
                    for (var dx = 0; dx < 2; dx++)
                    {
                        var p = ((((2 * cy) + dy) * width) + (2 * cx) + dx) * 3;
                        r += rgb24[p];
                        g += rgb24[p + 1];
                        b += rgb24[p + 2];
                    }
                }

                // The sums are four pixels: 4 × 256 = 1024, hence >> 10.
                uPlane[(cy * chromaWidth) + cx] = Clamp((((-38 * r) - (74 * g) + (112 * b) + 512) >> 10) + 128);
                vPlane[(cy * chromaWidth) + cx] = Clamp((((112 * r) - (94 * g) - (18 * b) + 512) >> 10) + 128);
            }
        }
    }

    /// <summary>
    /// Writes a frame of <paramref name="pixelFormat"/> into <paramref name="rgb24"/> as rgb24: converted from yuv420p,
    /// copied from rgb24; any other format is refused.
    /// </summary>
    public static void CopyToRgb24(ReadOnlySpan<byte> pixels, string pixelFormat, int width, int height, Span<byte> rgb24)
    {
        switch (pixelFormat)
        {
            case PixelFormats.Yuv420p:
                ToRgb24(pixels, width, height, rgb24);
                break;
            case PixelFormats.Rgb24:
                pixels[..(width * height * 3)].CopyTo(rgb24);
                break;
            default:
                throw new NotSupportedException($"Cannot convert {pixelFormat} pixels to rgb24 (supported: rgb24, yuv420p).");
        }
    }

    /// <summary>
    /// The frame's pixels as rgb24: <paramref name="pixels"/> itself when already rgb24, else converted into a buffer rented
    /// from <see cref="ArrayPool{T}.Shared"/> and returned in <paramref name="rented"/> (give it back when done).
    /// </summary>
    public static ReadOnlySpan<byte> AsRgb24(ReadOnlySpan<byte> pixels, string pixelFormat, int width, int height, out byte[]? rented)
    {
        rented = null;
        if (string.Equals(pixelFormat, PixelFormats.Rgb24, StringComparison.Ordinal))
        {
            return pixels;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(width * height * 3);
        try
        {
            CopyToRgb24(pixels, pixelFormat, width, height, buffer.AsSpan(0, width * height * 3));
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }

        rented = buffer;
        return buffer.AsSpan(0, width * height * 3);
    }

    // BT.601 limited range, 8 fractional bits: R = (298 (Y−16) + 409 (V−128) + 128) >> 8,
    // G = (298 (Y−16) − 100 (U−128) − 208 (V−128) + 128) >> 8, B = (298 (Y−16) + 516 (U−128) + 128) >> 8.
    private static byte Clamp(int value) => (byte)Math.Clamp(value, 0, 255);

    private static void Check(ReadOnlySpan<byte> yuv, int width, int height)
    {
        var bytes = PixelFormats.FrameBytes(PixelFormats.Yuv420p, width, height);
        if (yuv.Length < bytes)
        {
            throw new ArgumentException($"{width}x{height} yuv420p needs {bytes} bytes, got {yuv.Length}.", nameof(yuv));
        }
    }
}
