using System.Buffers;
using SkiaSharp;

namespace Detektor.Imaging;

/// <summary>JPEG/PNG/WebP/GIF/BMP in, rgb24 out, and rgb24 to JPEG — through SkiaSharp, no intermediate files.</summary>
public static class ImageCodec
{
    /// <summary>Largest image accepted by <see cref="Decode"/> unless the caller says otherwise (50 megapixels).</summary>
    public const long DefaultMaxPixels = 50_000_000;

    /// <summary>Decodes an encoded image into rgb24. Throws <see cref="ImageDecodeException"/> for anything else.</summary>
    public static RgbImage Decode(ReadOnlySpan<byte> encoded, long maxPixels = DefaultMaxPixels)
    {
        if (encoded.IsEmpty)
        {
            throw new ImageDecodeException("The image is empty.");
        }

        using var data = SKData.CreateCopy(encoded);
        using var codec = SKCodec.Create(data) ?? throw new ImageDecodeException("The data is not an image in a known format (JPEG, PNG, WebP, GIF, BMP).");
        var info = codec.Info;
        if (info.Width <= 0 || info.Height <= 0)
        {
            throw new ImageDecodeException("The image has no pixels.");
        }

        if ((long)info.Width * info.Height > maxPixels)
        {
            throw new ImageDecodeException($"The image is {info.Width}x{info.Height}; at most {maxPixels} pixels are accepted.");
        }

        var target = new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        // The rgba intermediate is pooled: at camera sizes it is a large-object-heap array per image otherwise.
        var rgba = ArrayPool<byte>.Shared.Rent(target.BytesSize);
        try
        {
            unsafe
            {
                fixed (byte* p = rgba)
                {
                    var result = codec.GetPixels(target, (IntPtr)p);
                    if (result is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
                    {
                        throw new ImageDecodeException($"The image could not be decoded ({result}).");
                    }
                }
            }

            var rgb = new byte[info.Width * info.Height * 3];
            RgbaToRgb(rgba.AsSpan(0, target.BytesSize), rgb);
            return new RgbImage(info.Width, info.Height, rgb);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rgba);
        }
    }

    /// <summary>Encodes rgb24 pixels as a JPEG into <paramref name="output"/>.</summary>
    public static void EncodeJpeg(ReadOnlySpan<byte> rgb24, int width, int height, Stream output, int quality = 85)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(rgb24.Length, width * height * 3);
        ArgumentOutOfRangeException.ThrowIfLessThan(quality, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quality, 100);
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var rgba = ArrayPool<byte>.Shared.Rent(info.BytesSize);
        try
        {
            RgbToRgba(rgb24, rgba.AsSpan(0, info.BytesSize));
            unsafe
            {
                fixed (byte* p = rgba)
                {
                    using var pixmap = new SKPixmap(info, (IntPtr)p, info.RowBytes);
                    using var encoded = pixmap.Encode(SKEncodedImageFormat.Jpeg, quality)
                        ?? throw new InvalidOperationException("JPEG encoding failed.");
                    encoded.SaveTo(output);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rgba);
        }
    }

    public static byte[] EncodeJpeg(ReadOnlySpan<byte> rgb24, int width, int height, int quality = 85)
    {
        using var stream = new MemoryStream();
        EncodeJpeg(rgb24, width, height, stream, quality);
        return stream.ToArray();
    }

    /// <summary>Encodes a frame of <paramref name="pixelFormat"/> (rgb24 or yuv420p, converted first) as a JPEG into <paramref name="output"/>.</summary>
    public static void EncodeJpeg(ReadOnlySpan<byte> pixels, string pixelFormat, int width, int height, Stream output, int quality = 85)
    {
        var rgb = Yuv420p.AsRgb24(pixels, pixelFormat, width, height, out var rented);
        try
        {
            EncodeJpeg(rgb[..(width * height * 3)], width, height, output, quality);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Encodes a frame of <paramref name="pixelFormat"/> (rgb24 or yuv420p) as a JPEG.</summary>
    public static byte[] EncodeJpeg(ReadOnlySpan<byte> pixels, string pixelFormat, int width, int height, int quality = 85)
    {
        using var stream = new MemoryStream();
        EncodeJpeg(pixels, pixelFormat, width, height, stream, quality);
        return stream.ToArray();
    }

    internal static void RgbaToRgb(ReadOnlySpan<byte> rgba, Span<byte> rgb)
    {
        var pixels = rgb.Length / 3;
        for (int i = 0, j = 0; i < pixels; i++, j += 4)
        {
            rgb[i * 3] = rgba[j];
            rgb[(i * 3) + 1] = rgba[j + 1];
            rgb[(i * 3) + 2] = rgba[j + 2];
        }
    }

    internal static void RgbToRgba(ReadOnlySpan<byte> rgb, Span<byte> rgba)
    {
        var pixels = rgb.Length / 3;
        for (int i = 0, j = 0; i < pixels; i++, j += 4)
        {
            rgba[j] = rgb[i * 3];
            rgba[j + 1] = rgb[(i * 3) + 1];
            rgba[j + 2] = rgb[(i * 3) + 2];
            rgba[j + 3] = 255;
        }
    }
}
