using System.Buffers;
using Detektor.Core.Frames;
using SkiaSharp;

namespace Detektor.Imaging;

/// <summary>JPEG/PNG/WebP/GIF/BMP in, rgb24 or yuv420p out, and rgb24 or yuv420p to JPEG — through SkiaSharp, no intermediate files.</summary>
public static class ImageCodec
{
    /// <summary>Largest image accepted by <see cref="Decode"/> unless the caller says otherwise (50 megapixels).</summary>
    public const long DefaultMaxPixels = 50_000_000;

    /// <summary>Decodes an encoded image into rgb24. Throws <see cref="ImageDecodeException"/> for anything else.</summary>
    public static RgbImage Decode(ReadOnlySpan<byte> encoded, long maxPixels = DefaultMaxPixels)
    {
        var rgba = DecodeRgba(encoded, maxPixels, null, out var width, out var height);
        try
        {
            var rgb = new byte[width * height * 3];
            RgbaToRgb(rgba.AsSpan(0, width * height * 4), rgb);
            return new RgbImage(width, height, rgb);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rgba);
        }
    }

    /// <summary>
    /// Decodes an encoded image of exactly <paramref name="width"/> × <paramref name="height"/> into
    /// <paramref name="destination"/> as a frame of <paramref name="pixelFormat"/> (rgb24, or yuv420p converted in one pass
    /// from the decoder's rgba32). Throws <see cref="ImageDecodeException"/> when it is not an image of that size.
    /// </summary>
    public static void DecodeInto(ReadOnlySpan<byte> encoded, string pixelFormat, int width, int height, Span<byte> destination)
    {
        if (pixelFormat is not (PixelFormats.Rgb24 or PixelFormats.Yuv420p))
        {
            throw new NotSupportedException($"Cannot decode into {pixelFormat} pixels (supported: rgb24, yuv420p).");
        }

        var rgba = DecodeRgba(encoded, (long)width * height, (width, height), out _, out _);
        try
        {
            var pixels = rgba.AsSpan(0, width * height * 4);
            if (pixelFormat == PixelFormats.Yuv420p)
            {
                Yuv420p.FromRgba32(pixels, width, height, destination);
            }
            else
            {
                ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, width * height * 3, nameof(destination));
                RgbaToRgb(pixels, destination);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rgba);
        }
    }

    /// <summary>
    /// Decodes into an rgba32 array rented from <see cref="ArrayPool{T}.Shared"/> (at camera sizes a large-object-heap array
    /// per image otherwise); the caller returns it. An image not of the <paramref name="expected"/> size (when given) is
    /// refused before anything is allocated for it.
    /// </summary>
    private static byte[] DecodeRgba(ReadOnlySpan<byte> encoded, long maxPixels, (int Width, int Height)? expected, out int width, out int height)
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

        if (expected is { } size && (info.Width, info.Height) != size)
        {
            throw new ImageDecodeException($"The image is {info.Width}x{info.Height}, not the {size.Width}x{size.Height} expected.");
        }

        if ((long)info.Width * info.Height > maxPixels)
        {
            throw new ImageDecodeException($"The image is {info.Width}x{info.Height}; at most {maxPixels} pixels are accepted.");
        }

        var target = new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
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
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(rgba);
            throw;
        }

        (width, height) = (info.Width, info.Height);
        return rgba;
    }

    /// <summary>Encodes rgb24 pixels as a JPEG into <paramref name="output"/>.</summary>
    public static void EncodeJpeg(ReadOnlySpan<byte> rgb24, int width, int height, Stream output, int quality = 85)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(rgb24.Length, width * height * 3);
        EncodeJpeg(rgb24, PixelFormats.Rgb24, width, height, output, quality);
    }

    public static byte[] EncodeJpeg(ReadOnlySpan<byte> rgb24, int width, int height, int quality = 85)
    {
        using var stream = new MemoryStream();
        EncodeJpeg(rgb24, width, height, stream, quality);
        return stream.ToArray();
    }

    /// <summary>
    /// Encodes a frame of <paramref name="pixelFormat"/> (rgb24 or yuv420p) as a JPEG into <paramref name="output"/>. Both
    /// are converted in one pass into the rgba32 SkiaSharp encodes from (yuv420p no longer through rgb24 first).
    /// </summary>
    public static void EncodeJpeg(ReadOnlySpan<byte> pixels, string pixelFormat, int width, int height, Stream output, int quality = 85)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(quality, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quality, 100);
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var rgba = ArrayPool<byte>.Shared.Rent(info.BytesSize);
        try
        {
            switch (pixelFormat)
            {
                case PixelFormats.Yuv420p:
                    Yuv420p.ToRgba32(pixels, width, height, rgba.AsSpan(0, info.BytesSize));
                    break;
                case PixelFormats.Rgb24:
                    ArgumentOutOfRangeException.ThrowIfLessThan(pixels.Length, width * height * 3, nameof(pixels));
                    RgbToRgba(pixels[..(width * height * 3)], rgba.AsSpan(0, info.BytesSize));
                    break;
                default:
                    throw new NotSupportedException($"Cannot encode {pixelFormat} pixels as JPEG (supported: rgb24, yuv420p).");
            }

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
