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
        // Straight into the frame's own format (consumers read the metadata's pixel format and size), from the decoder's
        // rgba32 in one pass: a yuv420p frame no longer goes through rgb24 first.
        if (!PixelFormats.Capture.Contains(metadata.PixelFormat))
        {
            throw new InvalidDataException($"A JPEG frame must be rgb24 or yuv420p, not {metadata.PixelFormat}.");
        }

        var buffer = pool.Rent(PixelFormats.FrameBytes(metadata.PixelFormat, metadata.Width, metadata.Height));
        try
        {
            ImageCodec.DecodeInto(data, metadata.PixelFormat, metadata.Width, metadata.Height, buffer.Span);
        }
        catch
        {
            buffer.Release();
            throw;
        }

        return buffer;
    }
}
