using Detektor.Core.Messages;
using Detektor.Testing;

namespace Detektor.Imaging.Tests;

public class ImageCodecTests
{
    [Fact]
    public void Decode_RealJpeg_GivesItsSizeAndPlausiblePixels()
    {
        var sut = ImageCodec.Decode(File.ReadAllBytes(Footage.Get("messi5.jpg")));

        Assert.Equal(548, sut.Width);
        Assert.Equal(342, sut.Height);
        Assert.Equal(548 * 342 * 3, sut.Pixels.Length);
        // A football pitch: green dominates the mean colour.
        double r = 0, g = 0, b = 0;
        for (var i = 0; i < sut.Pixels.Length; i += 3)
        {
            r += sut.Pixels[i];
            g += sut.Pixels[i + 1];
            b += sut.Pixels[i + 2];
        }

        Assert.True(g > r && g > b, $"mean rgb {r / (sut.Pixels.Length / 3):0} {g / (sut.Pixels.Length / 3):0} {b / (sut.Pixels.Length / 3):0}");
    }

    [Fact]
    public void Decode_RealPng_Works()
    {
        var sut = ImageCodec.Decode(File.ReadAllBytes(Footage.Get("basketball1.png")));

        Assert.True(sut.Width > 100 && sut.Height > 100);
    }

    [Theory]
    [InlineData(new byte[0], "empty")]
    [InlineData(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }, "not an image")]
    public void Decode_NotAnImage_ThrowsClearError(byte[] data, string expected)
    {
        var ex = Assert.Throws<ImageDecodeException>(() => ImageCodec.Decode(data));

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_TruncatedJpeg_DoesNotCrash()
    {
        var bytes = File.ReadAllBytes(Footage.Get("messi5.jpg"));

        // Skia decodes what it can of a truncated JPEG (IncompleteInput); a header-only file is refused.
        var partial = ImageCodec.Decode(bytes.AsSpan(0, bytes.Length / 2));
        Assert.Equal(548, partial.Width);
        Assert.Throws<ImageDecodeException>(() => ImageCodec.Decode(bytes.AsSpan(0, 20)));
    }

    [Fact]
    public void Decode_TooManyPixels_Refused()
    {
        var bytes = File.ReadAllBytes(Footage.Get("messi5.jpg"));

        var ex = Assert.Throws<ImageDecodeException>(() => ImageCodec.Decode(bytes, maxPixels: 1000));

        Assert.Contains("at most 1000 pixels", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EncodeJpeg_ThenDecode_KeepsSizeAndColoursClose()
    {
        const int w = 64, h = 48;
        var rgb = new byte[w * h * 3];
        for (var y = 0; y < h; y++)
        {
            for (var x = 0; x < w; x++)
            {
                var i = ((y * w) + x) * 3;
                rgb[i] = (byte)(x < w / 2 ? 200 : 20); // left half red-ish
                rgb[i + 1] = 30;
                rgb[i + 2] = (byte)(y < h / 2 ? 40 : 180); // bottom half blue-ish
            }
        }

        var jpeg = ImageCodec.EncodeJpeg(rgb, w, h, quality: 95);
        var back = ImageCodec.Decode(jpeg);

        Assert.Equal(0xFF, jpeg[0]);
        Assert.Equal(0xD8, jpeg[1]);
        Assert.Equal((w, h), (back.Width, back.Height));
        var maxError = 0;
        for (var i = 0; i < rgb.Length; i++)
        {
            maxError = Math.Max(maxError, Math.Abs(rgb[i] - back.Pixels[i]));
        }

        Assert.True(maxError < 60, $"max channel error {maxError}");
        Assert.InRange(back.Pixels[(((h / 4) * w) + (w / 4)) * 3], 170, 230);
    }

    [Fact]
    public void EncodeJpeg_Yuv420pFrame_SameBytesAsEncodingItsRgb24Conversion()
    {
        // The yuv420p path converts straight into the encoder's rgba32; it must give the JPEG the rgb24 route gave.
        const int w = 98, h = 40; // not a multiple of the 16-pixel vector step
        var yuv = new byte[Core.Frames.PixelFormats.FrameBytes(Core.Frames.PixelFormats.Yuv420p, w, h)];
        new Random(5).NextBytes(yuv);
        var rgb = new byte[w * h * 3];
        Yuv420p.ToRgb24(yuv, w, h, rgb);

        var direct = ImageCodec.EncodeJpeg(yuv, Core.Frames.PixelFormats.Yuv420p, w, h, quality: 90);
        var viaRgb = ImageCodec.EncodeJpeg(rgb, w, h, quality: 90);

        Assert.Equal(viaRgb, direct);
        var decoded = ImageCodec.Decode(direct);
        Assert.Equal((w, h), (decoded.Width, decoded.Height));
    }

    [Fact]
    public void DecodeInto_RealJpeg_SameFrameAsDecodingThenConverting()
    {
        // The bus's JPEG path decodes straight into the frame's format; it must equal the route through rgb24.
        const int w = 98, h = 40;
        var yuv = new byte[Core.Frames.PixelFormats.FrameBytes(Core.Frames.PixelFormats.Yuv420p, w, h)];
        new Random(6).NextBytes(yuv);
        var jpeg = ImageCodec.EncodeJpeg(yuv, Core.Frames.PixelFormats.Yuv420p, w, h, quality: 80);
        var decoded = ImageCodec.Decode(jpeg);
        var expectedYuv = new byte[yuv.Length];
        Yuv420p.FromRgb24(decoded.Pixels, w, h, expectedYuv);
        var (intoYuv, intoRgb) = (new byte[yuv.Length], new byte[w * h * 3]);

        ImageCodec.DecodeInto(jpeg, Core.Frames.PixelFormats.Yuv420p, w, h, intoYuv);
        ImageCodec.DecodeInto(jpeg, Core.Frames.PixelFormats.Rgb24, w, h, intoRgb);

        Assert.Equal(expectedYuv, intoYuv);
        Assert.Equal(decoded.Pixels, intoRgb);
    }

    [Fact]
    public void DecodeInto_ImageOfAnotherSize_ClearErrorNamingBothSizes()
    {
        var jpeg = ImageCodec.EncodeJpeg(new byte[16 * 8 * 3], 16, 8);

        var ex = Assert.Throws<ImageDecodeException>(() => ImageCodec.DecodeInto(jpeg, Core.Frames.PixelFormats.Rgb24, 8, 8, new byte[8 * 8 * 3]));

        Assert.Contains("16x8", ex.Message, StringComparison.Ordinal);
        Assert.Contains("8x8", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EncodeJpeg_UnsupportedPixelFormat_ClearError()
    {
        var ex = Assert.Throws<NotSupportedException>(() => ImageCodec.EncodeJpeg(new byte[64], "gray", 8, 8));

        Assert.Contains("gray", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DrawBox_DrawsOutlineOnlyAndClipsToImage()
    {
        const int w = 20, h = 10;
        var rgb = new byte[w * h * 3];

        BoxDrawing.DrawBox(rgb, w, h, new BoundingBox(2, 2, 6, 4), BoxDrawing.Rgb.Red, thickness: 1);
        BoxDrawing.DrawBox(rgb, w, h, new BoundingBox(15, -5, 100, 100), BoxDrawing.Rgb.Green, thickness: 1);

        byte R(int x, int y) => rgb[((y * w) + x) * 3];
        Assert.Equal(230, R(2, 2));   // corner
        Assert.Equal(230, R(7, 5));   // opposite corner
        Assert.Equal(0, R(4, 3));     // inside stays untouched
        Assert.Equal(0, R(9, 2));     // outside
        Assert.Equal(200, rgb[((0 * w) + 19) * 3 + 1]); // clipped box reaches the right edge
    }
}
