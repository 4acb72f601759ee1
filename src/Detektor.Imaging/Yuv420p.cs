using System.Buffers;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
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
        ArgumentOutOfRangeException.ThrowIfLessThan(rgbRow.Length, width * 3, nameof(rgbRow));
        x0 = Math.Clamp(x0, 0, width);
        x1 = Math.Clamp(x1, x0, width);
        var rented = width > 2048 ? ArrayPool<byte>.Shared.Rent(width * 3) : null;
        var planes = rented is null ? stackalloc byte[width * 3] : rented.AsSpan(0, width * 3);
        try
        {
            var r = planes[..width];
            var g = planes.Slice(width, width);
            var b = planes.Slice(2 * width, width);
            ToRgbPlanesRow(yuv, width, height, y, x0, x1, r, g, b);
            for (var x = x0; x < x1; x++)
            {
                rgbRow[3 * x] = r[x];
                rgbRow[(3 * x) + 1] = g[x];
                rgbRow[(3 * x) + 2] = b[x];
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// Converts columns [<paramref name="x0"/>, <paramref name="x1"/>) of row <paramref name="y"/> into three planes of
    /// <paramref name="width"/> bytes each, indexed by column (other columns are left as they are) — what the detector's
    /// letterbox reads. Vectorised (16 pixels a step, 128-bit: SSE4.1 or Arm64 AdvSimd) with the same integer results as
    /// the scalar formula it falls back to.
    /// </summary>
    public static void ToRgbPlanesRow(ReadOnlySpan<byte> yuv, int width, int height, int y, int x0, int x1, Span<byte> r, Span<byte> g, Span<byte> b)
    {
        Check(yuv, width, height);
        ArgumentOutOfRangeException.ThrowIfNegative(y);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(y, height);
        if (r.Length < width || g.Length < width || b.Length < width)
        {
            throw new ArgumentException($"Each plane needs {width} bytes.", nameof(r));
        }

        x0 = Math.Clamp(x0, 0, width);
        x1 = Math.Clamp(x1, x0, width);
        var chromaWidth = width / 2;
        var luma = yuv.Slice(y * width, width);
        var chromaRow = (y / 2) * chromaWidth;
        var u = yuv.Slice((width * height) + chromaRow, chromaWidth);
        var v = yuv.Slice((width * height) + (width * height / 4) + chromaRow, chromaWidth);
        var x = x0;
        if ((x & 1) == 1 && x < x1)
        {
            // The vector steps start on an even column: a pair's chroma sample.
            Pixel(luma[x], u[x >> 1], v[x >> 1], out r[x], out g[x], out b[x]);
            x++;
        }

        if (Vector128.IsHardwareAccelerated)
        {
            for (; x + 16 <= x1; x += 16)
            {
                Convert16(luma.Slice(x, 16), u.Slice(x >> 1, 8), v.Slice(x >> 1, 8), r.Slice(x, 16), g.Slice(x, 16), b.Slice(x, 16));
            }
        }

        for (; x < x1; x++)
        {
            Pixel(luma[x], u[x >> 1], v[x >> 1], out r[x], out g[x], out b[x]);
        }
    }

    /// <summary>16 pixels: 16 Y, 8 U and 8 V samples (each U, V shared by two neighbours) to 16 R, G, B bytes.</summary>
    private static void Convert16(ReadOnlySpan<byte> luma, ReadOnlySpan<byte> u, ReadOnlySpan<byte> v, Span<byte> r, Span<byte> g, Span<byte> b)
    {
        var (y0, y1, y2, y3) = Widen(Vector128.Create(luma));
        var (u0, u1) = Widen8(u);
        var (v0, v1) = Widen8(v);

        // The chroma terms per chroma sample (8), spread to the two pixels each covers.
        var bias = Vector128.Create(128);
        (u0, u1, v0, v1) = (u0 - bias, u1 - bias, v0 - bias, v1 - bias);
        var (rc0, rc1) = (v0 * 409, v1 * 409);
        var (gc0, gc1) = ((u0 * -100) - (v0 * 208), (u1 * -100) - (v1 * 208));
        var (bc0, bc1) = (u0 * 516, u1 * 516);

        // 298 (Y − 16) + 128 = 298 Y − 4640.
        var c0 = (y0 * 298) - Vector128.Create(4640);
        var c1 = (y1 * 298) - Vector128.Create(4640);
        var c2 = (y2 * 298) - Vector128.Create(4640);
        var c3 = (y3 * 298) - Vector128.Create(4640);
        Store(c0, c1, c2, c3, rc0, rc1, r);
        Store(c0, c1, c2, c3, gc0, gc1, g);
        Store(c0, c1, c2, c3, bc0, bc1, b);
    }

    /// <summary>16 pixels as <see cref="Convert16"/>, then interleaved into 64 bytes of R, G, B, 255 (little-endian lanes).</summary>
    private static void Convert16Rgba(ReadOnlySpan<byte> luma, ReadOnlySpan<byte> u, ReadOnlySpan<byte> v, Span<byte> rgba)
    {
        Span<byte> planes = stackalloc byte[48];
        Convert16(luma, u, v, planes[..16], planes.Slice(16, 16), planes[32..]);
        var (r0, r1, r2, r3) = Widen(Vector128.Create(planes[..16]));
        var (g0, g1, g2, g3) = Widen(Vector128.Create(planes.Slice(16, 16)));
        var (b0, b1, b2, b3) = Widen(Vector128.Create(planes[32..]));
        var alpha = Vector128.Create(unchecked((int)0xFF000000));
        (r0 | (g0 << 8) | (b0 << 16) | alpha).AsByte().CopyTo(rgba);
        (r1 | (g1 << 8) | (b1 << 16) | alpha).AsByte().CopyTo(rgba[16..]);
        (r2 | (g2 << 8) | (b2 << 16) | alpha).AsByte().CopyTo(rgba[32..]);
        (r3 | (g3 << 8) | (b3 << 16) | alpha).AsByte().CopyTo(rgba[48..]);
    }

    private static void Store(Vector128<int> c0, Vector128<int> c1, Vector128<int> c2, Vector128<int> c3, Vector128<int> t0, Vector128<int> t1, Span<byte> destination)
    {
        var low = Vector128.Create(0, 0, 1, 1);
        var high = Vector128.Create(2, 2, 3, 3);
        var p0 = Channel(c0 + Vector128.Shuffle(t0, low));
        var p1 = Channel(c1 + Vector128.Shuffle(t0, high));
        var p2 = Channel(c2 + Vector128.Shuffle(t1, low));
        var p3 = Channel(c3 + Vector128.Shuffle(t1, high));
        Vector128.Narrow(Vector128.Narrow(p0, p1), Vector128.Narrow(p2, p3)).CopyTo(destination);
    }

    /// <summary><c>clamp(value &gt;&gt; 8, 0, 255)</c>, as unsigned lanes ready to narrow.</summary>
    private static Vector128<uint> Channel(Vector128<int> value) =>
        Vector128.Min(Vector128.Max(Vector128.ShiftRightArithmetic(value, 8), Vector128<int>.Zero), Vector128.Create(255)).AsUInt32();

    private static (Vector128<int>, Vector128<int>, Vector128<int>, Vector128<int>) Widen(Vector128<byte> bytes)
    {
        var (low, high) = Vector128.Widen(bytes);
        var (a, b) = Vector128.Widen(low);
        var (c, d) = Vector128.Widen(high);
        return (a.AsInt32(), b.AsInt32(), c.AsInt32(), d.AsInt32());
    }

    private static (Vector128<int>, Vector128<int>) Widen8(ReadOnlySpan<byte> eight)
    {
        var words = Vector128.WidenLower(Vector128.CreateScalar(MemoryMarshal.Read<ulong>(eight)).AsByte());
        var (a, b) = Vector128.Widen(words);
        return (a.AsInt32(), b.AsInt32());
    }

    /// <summary>One pixel, BT.601 limited range with 8 fractional bits (the formulas at the end of this class).</summary>
    private static void Pixel(int luma, int u, int v, out byte r, out byte g, out byte b)
    {
        var c = (298 * (luma - 16)) + 128;
        int d = u - 128, e = v - 128;
        r = Clamp((c + (409 * e)) >> 8);
        g = Clamp((c - (100 * d) - (208 * e)) >> 8);
        b = Clamp((c + (516 * d)) >> 8);
    }

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
    /// Converts a whole yuv420p frame into rgba32 (R, G, B, 255 for each pixel; <c>width × height × 4</c> bytes), what
    /// SkiaSharp encodes JPEG from: one pass, vectorised as <see cref="ToRgbPlanesRow"/>, the same R, G, B as <see cref="ToRgb24"/>.
    /// </summary>
    public static void ToRgba32(ReadOnlySpan<byte> yuv, int width, int height, Span<byte> rgba)
    {
        Check(yuv, width, height);
        ArgumentOutOfRangeException.ThrowIfLessThan(rgba.Length, width * height * 4, nameof(rgba));
        var chromaWidth = width / 2;
        var vectors = Vector128.IsHardwareAccelerated && BitConverter.IsLittleEndian;
        for (var y = 0; y < height; y++)
        {
            var luma = yuv.Slice(y * width, width);
            var chromaRow = (y / 2) * chromaWidth;
            var u = yuv.Slice((width * height) + chromaRow, chromaWidth);
            var v = yuv.Slice((width * height) + (width * height / 4) + chromaRow, chromaWidth);
            var row = rgba.Slice(y * width * 4, width * 4);
            var x = 0;
            if (vectors)
            {
                for (; x + 16 <= width; x += 16)
                {
                    Convert16Rgba(luma.Slice(x, 16), u.Slice(x >> 1, 8), v.Slice(x >> 1, 8), row.Slice(x * 4, 64));
                }
            }

            for (; x < width; x++)
            {
                Pixel(luma[x], u[x >> 1], v[x >> 1], out row[x * 4], out row[(x * 4) + 1], out row[(x * 4) + 2]);
                row[(x * 4) + 3] = 255;
            }
        }
    }

    /// <summary>
    /// Converts rgb24 into yuv420p (each U and V sample the mean of its 2 × 2 block) — for tests, and for callers that
    /// hold rgb24.
    /// </summary>
    public static void FromRgb24(ReadOnlySpan<byte> rgb24, int width, int height, Span<byte> yuv)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rgb24.Length, width * height * 3, nameof(rgb24));
        FromPacked(rgb24, 3, width, height, yuv);
    }

    /// <summary>
    /// Converts rgba32 (alpha ignored) into yuv420p as <see cref="FromRgb24"/> does — for a JPEG that arrives on the bus for a
    /// yuv420p frame, straight from the decoder's output.
    /// </summary>
    public static void FromRgba32(ReadOnlySpan<byte> rgba, int width, int height, Span<byte> yuv)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rgba.Length, width * height * 4, nameof(rgba));
        FromPacked(rgba, 4, width, height, yuv);
    }

    /// <summary>Packed R, G, B (then <paramref name="stride"/> − 3 bytes ignored) per pixel into yuv420p.</summary>
    private static void FromPacked(ReadOnlySpan<byte> packed, int stride, int width, int height, Span<byte> yuv)
    {
        Check(yuv, width, height);
        var chromaWidth = width / 2;
        var uPlane = yuv.Slice(width * height, width * height / 4);
        var vPlane = yuv.Slice((width * height) + (width * height / 4), width * height / 4);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var p = ((y * width) + x) * stride;
                yuv[(y * width) + x] = Clamp((((66 * packed[p]) + (129 * packed[p + 1]) + (25 * packed[p + 2]) + 128) >> 8) + 16);
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
                        var p = ((((2 * cy) + dy) * width) + (2 * cx) + dx) * stride;
                        r += packed[p];
                        g += packed[p + 1];
                        b += packed[p + 2];
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
