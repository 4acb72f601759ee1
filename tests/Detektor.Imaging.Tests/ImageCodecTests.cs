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
