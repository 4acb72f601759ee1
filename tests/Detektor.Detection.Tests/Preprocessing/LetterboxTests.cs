using Detektor.Detection.Preprocessing;
using Detektor.Testing;

namespace Detektor.Detection.Tests.Preprocessing;

public class LetterboxTests
{
    private static byte[] Frame(int width, int height, Func<int, int, int, byte> pixel)
    {
        var rgb = new byte[width * height * 3];
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                for (var c = 0; c < 3; c++)
                {
                    rgb[(((y * width) + x) * 3) + c] = pixel(x, y, c);
                }
            }
        }

        return rgb;
    }

    [Theory]
    [InlineData(64, 48, 0, 0, 64, 48, TensorLayout.Nhwc)]
    [InlineData(64, 48, 0, 0, 64, 48, TensorLayout.Nchw)]
    [InlineData(100, 60, 37, 11, 30, 30, TensorLayout.Nchw)] // a region starting on an odd column and row
    [InlineData(30, 90, 0, 0, 30, 90, TensorLayout.Nhwc)] // upscaled
    public void Fill_Yuv420p_SameTensorAsFromItsRgb24Conversion(int width, int height, int x, int y, int w, int h, TensorLayout layout)
    {
        var yuv = new byte[Core.Frames.PixelFormats.FrameBytes(Core.Frames.PixelFormats.Yuv420p, width, height)];
        new Random(width).NextBytes(yuv);
        var rgb = new byte[width * height * 3];
        Imaging.Yuv420p.ToRgb24(yuv, width, height, rgb);
        var region = new PixelRect(x, y, w, h);
        var fromRgb = new float[new Letterbox(40, 40, layout, PixelNormalization.Symmetric).TensorLength];
        var fromYuv = new float[fromRgb.Length];

        new Letterbox(40, 40, layout, PixelNormalization.Symmetric).Fill(rgb, width, height, region, fromRgb);
        var sut = new Letterbox(40, 40, layout, PixelNormalization.Symmetric);
        sut.Fill(yuv, Core.Frames.PixelFormats.Yuv420p, width, height, region, fromYuv);

        Assert.Equal(fromRgb, fromYuv);
        Assert.Contains(fromYuv, v => v != fromYuv[0]);
    }

    [Fact]
    public void Fill_UnsupportedOrShortFrame_ClearErrors()
    {
        var sut = new Letterbox(8, 8, TensorLayout.Nhwc, PixelNormalization.Symmetric);
        var tensor = new float[sut.TensorLength];

        Assert.Contains("not gray", Assert.Throws<NotSupportedException>(() => sut.Fill(new byte[64], Core.Frames.PixelFormats.Gray, 8, 8, new PixelRect(0, 0, 8, 8), tensor)).Message, StringComparison.Ordinal);
        Assert.Contains("8x8 yuv420p needs 96 bytes, got 95", Assert.Throws<ArgumentException>(() => sut.Fill(new byte[95], Core.Frames.PixelFormats.Yuv420p, 8, 8, new PixelRect(0, 0, 8, 8), tensor)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Fill_SameSize_CopiesPixelsNormalised()
    {
        var rgb = Frame(8, 8, (x, y, c) => (byte)((x * 10) + y + (c * 100)));
        var sut = new Letterbox(8, 8, TensorLayout.Nhwc, PixelNormalization.Symmetric);
        var tensor = new float[sut.TensorLength];

        var transform = sut.Fill(rgb, 8, 8, tensor);

        Assert.Equal((1f, 0f, 0f), (transform.Scale, transform.PadX, transform.PadY));
        for (var i = 0; i < rgb.Length; i++)
        {
            Assert.Equal((rgb[i] / 127.5f) - 1f, tensor[i], 1e-5f);
        }
    }

    [Fact]
    public void Fill_WideFrame_ScalesCentresAndPadsTopAndBottom()
    {
        // 16x8 into 8x8: scale 0.5, picture 8x4, 2 rows of padding above and below.
        var rgb = Frame(16, 8, (_, _, c) => (byte)(c == 0 ? 200 : 50));
        var sut = new Letterbox(8, 8, TensorLayout.Nchw, PixelNormalization.Unit);
        var tensor = new float[sut.TensorLength];

        var t = sut.Fill(rgb, 16, 8, tensor);

        Assert.Equal((0.5f, 0f, 2f), (t.Scale, t.PadX, t.PadY));
        var pad = 114 / 255f;
        Assert.Equal(pad, tensor[0], 5);                       // R plane, row 0: padding
        Assert.Equal(200 / 255f, tensor[(2 * 8) + 3], 5);      // R plane, row 2: picture
        Assert.Equal(50 / 255f, tensor[64 + (5 * 8) + 7], 5);  // G plane, row 5: picture
        Assert.Equal(pad, tensor[128 + (7 * 8) + 7], 5);       // B plane, row 7: padding
        Assert.Equal(4f, t.ToFrameX(2f));
        Assert.Equal(0f, t.ToFrameY(2f));
        Assert.Equal(8f, t.ToFrameY(6f));
    }

    [Fact]
    public void Fill_Downscale_IsBilinearWithAlignedCentres()
    {
        // A horizontal ramp 0,10,20,...: halving averages neighbours, so output x = 10 * (2x + 0.5).
        var rgb = Frame(16, 2, (x, _, _) => (byte)(x * 10));
        var sut = new Letterbox(8, 1, TensorLayout.Nhwc, PixelNormalization.Raw);
        var tensor = new float[sut.TensorLength];

        sut.Fill(rgb, 16, 2, tensor);

        for (var x = 0; x < 8; x++)
        {
            Assert.Equal(10f * ((2 * x) + 0.5f), tensor[x * 3], 3);
        }
    }

    [Fact]
    public void Fill_Region_MapsBackIntoTheFrame()
    {
        var rgb = Frame(100, 100, (x, y, _) => (byte)(x >= 40 && x < 60 && y >= 20 && y < 40 ? 255 : 0));
        var sut = new Letterbox(20, 20, TensorLayout.Nhwc, PixelNormalization.Raw);
        var tensor = new float[sut.TensorLength];

        var t = sut.Fill(rgb, 100, 100, new PixelRect(40, 20, 20, 20), tensor);

        Assert.All(tensor, v => Assert.Equal(255f, v));
        Assert.Equal(40f, t.ToFrameX(0));
        Assert.Equal(60f, t.ToFrameX(20));
        Assert.Equal(20f, t.ToFrameY(0));
    }

    [Fact]
    public void Fill_GeometryChanges_RefillsPadding()
    {
        var sut = new Letterbox(8, 8, TensorLayout.Nhwc, PixelNormalization.Raw);
        var tensor = new float[sut.TensorLength];
        sut.Fill(Frame(8, 8, (_, _, _) => 255), 8, 8, tensor);

        sut.Fill(Frame(16, 8, (_, _, _) => 255), 16, 8, tensor);

        Assert.Equal(0f, tensor[0]);
        Assert.Equal(255f, tensor[(3 * 8 * 3) + 3]);
    }

    [Fact]
    public void Fill_SteadyState_AllocatesNothing()
    {
        var rgb = Frame(640, 480, (x, y, c) => (byte)(x + y + c));
        var sut = new Letterbox(512, 512, TensorLayout.Nhwc, PixelNormalization.Raw);
        var tensor = new float[sut.TensorLength];
        sut.Fill(rgb, 640, 480, tensor);

        var allocated = Allocations.OfCurrentThread(() => sut.Fill(rgb, 640, 480, tensor), 5);

        Assert.Equal(0, allocated);
    }
}
