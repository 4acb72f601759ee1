using Detektor.Core.Buffers;
using Detektor.Core.Frames;
using Detektor.Imaging;

namespace Detektor.Bus.Codecs;

/// <summary>How frame pixels are written into a bus message and read back (the <c>encoding</c> field, docs/bus.md).</summary>
public interface IPixelCodec
{
    /// <summary>The wire name: <c>raw</c> or <c>jpeg</c>.</summary>
    string Encoding { get; }

    /// <summary>The bytes to send for these pixels (may be the pixels themselves, not a copy).</summary>
    ReadOnlyMemory<byte> Encode(FrameBuffer pixels, FrameMetadata metadata);

    /// <summary>Pixels laid out as <see cref="FrameMetadata.PixelFormat"/>, in a buffer the caller owns.</summary>
    FrameBuffer Decode(ReadOnlySpan<byte> data, FrameMetadata metadata, FrameBufferPool pool);
}

/// <summary>The pixels as captured (rgb24 rows): no CPU spent, the largest messages.</summary>
public sealed class RawPixelCodec : IPixelCodec
{
    public static RawPixelCodec Instance { get; } = new();

    public string Encoding => "raw";

    public ReadOnlyMemory<byte> Encode(FrameBuffer pixels, FrameMetadata metadata) => pixels.Memory;

    public FrameBuffer Decode(ReadOnlySpan<byte> data, FrameMetadata metadata, FrameBufferPool pool)
    {
        if (data.IsEmpty)
        {
            throw new InvalidDataException("The frame message has an empty 'pixels' field.");
        }

        var buffer = pool.Rent(data.Length);
        data.CopyTo(buffer.Span);
        return buffer;
    }
}

/// <summary>JPEG (SkiaSharp through Detektor.Imaging): about a tenth of the raw size, lossy, costs CPU on both ends.</summary>
public sealed class JpegPixelCodec(int quality) : IPixelCodec
{
    public string Encoding => "jpeg";

    public ReadOnlyMemory<byte> Encode(FrameBuffer pixels, FrameMetadata metadata)
    {
        if (!PixelFormats.Capture.Contains(metadata.PixelFormat))
        {
            throw new NotSupportedException($"JPEG encoding needs rgb24 or yuv420p pixels, not {metadata.PixelFormat}.");
        }

        return ImageCodec.EncodeJpeg(pixels.Span, metadata.PixelFormat, metadata.Width, metadata.Height, quality);
    }

    public FrameBuffer Decode(ReadOnlySpan<byte> data, FrameMetadata metadata, FrameBufferPool pool)
    {
        var image = ImageCodec.Decode(data);
        if (image.Width != metadata.Width || image.Height != metadata.Height)
        {
            throw new InvalidDataException($"The JPEG is {image.Width}x{image.Height} but the metadata says {metadata.Width}x{metadata.Height}.");
        }

        // Back into the frame's own format: consumers read the metadata's pixel format and size.
        var buffer = pool.Rent(PixelFormats.FrameBytes(metadata.PixelFormat, image.Width, image.Height));
        if (metadata.PixelFormat == PixelFormats.Yuv420p)
        {
            Yuv420p.FromRgb24(image.Pixels, image.Width, image.Height, buffer.Span);
        }
        else
        {
            image.Pixels.CopyTo(buffer.Span);
        }

        return buffer;
    }
}
