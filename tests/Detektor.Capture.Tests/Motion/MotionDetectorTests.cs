using Detektor.Capture.Motion;
using Detektor.Core.Frames;
using Detektor.Imaging;
using Detektor.Testing;

namespace Detektor.Capture.Tests.Motion;

public sealed class MotionDetectorTests
{
    private const int W = 640;
    private const int H = 480;

    private static byte[] Frame(byte level)
    {
        var frame = new byte[W * H * 3];
        Array.Fill(frame, level);
        return frame;
    }

    private static void Square(byte[] frame, int x, int y, int size, byte level)
    {
        for (var row = y; row < y + size; row++)
        {
            frame.AsSpan(((row * W) + x) * 3, size * 3).Fill(level);
        }
    }

    private static byte[] Yuv(byte[] rgb24)
    {
        var yuv = new byte[PixelFormats.FrameBytes(PixelFormats.Yuv420p, W, H)];
        for (var i = 0; i < W * H; i++)
        {
            yuv[i] = rgb24[i * 3];
        }

        yuv.AsSpan(W * H).Fill(128);
        return yuv;
    }

    [Fact]
    public void Analyze_FirstFrame_ReturnsNullUntilBackgroundExists()
    {
        var sut = new MotionDetector(W, H, new MotionOptions());

        Assert.Null(sut.Analyze(Frame(90)));
        Assert.Equal(0, sut.Analyze(Frame(90)));
    }

    [Fact]
    public void Analyze_StaticScene_ScoresZeroWithoutBoxes()
    {
        var sut = new MotionDetector(W, H, new MotionOptions());
        var frame = Frame(100);
        Square(frame, 100, 100, 50, 200);
        sut.Analyze(frame);

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(0, sut.Analyze(frame));
            Assert.True(sut.Boxes.IsEmpty);
        }
    }

    [Fact]
    public void Analyze_SquareAppears_ScoresItsAreaAndBoxesIt()
    {
        var sut = new MotionDetector(W, H, new MotionOptions());
        sut.Analyze(Frame(60));
        var frame = Frame(60);
        Square(frame, 320, 240, 64, 250);

        var score = sut.Analyze(frame);

        // 64x64 of 640x480 changed: 1.33 %; analysed at 160x120 (factor 4) the square is exactly 16x16 pixels.
        Assert.Equal(64.0 * 64 / (W * H), score!.Value, 4);
        var box = Assert.Single(sut.Boxes.ToArray());
        Assert.True(box.X <= 320 && box.Y <= 240 && box.Right >= 384 && box.Bottom >= 304, $"box {box} covers the square");
        Assert.True(box.Width <= 64 + (2 * MotionDetector.CellSize * 4), $"box {box} is not much larger than the square");
    }

    [Fact]
    public void Analyze_TwoSeparateMovers_TwoBoxesLargestFirst()
    {
        var sut = new MotionDetector(W, H, new MotionOptions());
        sut.Analyze(Frame(30));
        var frame = Frame(30);
        Square(frame, 32, 32, 48, 220);
        Square(frame, 400, 300, 96, 220);

        sut.Analyze(frame);

        var boxes = sut.Boxes.ToArray();
        Assert.Equal(2, boxes.Length);
        Assert.True(boxes[0].Area > boxes[1].Area);
        Assert.True(boxes[0].X >= 360, "the larger mover is the right one");
    }

    [Fact]
    public void Analyze_ChangeBelowPixelThreshold_IsNotMotion()
    {
        var sut = new MotionDetector(W, H, new MotionOptions { PixelThreshold = 25 });
        sut.Analyze(Frame(100));

        Assert.Equal(0, sut.Analyze(Frame(120)));
        Assert.True(sut.Analyze(Frame(160)) > 0.99);
    }

    [Fact]
    public void Analyze_SceneChangeHeld_BackgroundAbsorbsIt()
    {
        var sut = new MotionDetector(W, H, new MotionOptions { BackgroundRate = 0.2 });
        sut.Analyze(Frame(50));
        var scores = Enumerable.Range(0, 40).Select(_ => sut.Analyze(Frame(200))!.Value).ToList();

        Assert.Equal(1, scores[0]);
        Assert.Equal(0, scores[^1]);
    }

    [Fact]
    public void Analyze_AfterReset_StartsOverWithoutBackground()
    {
        var sut = new MotionDetector(W, H, new MotionOptions());
        sut.Analyze(Frame(10));
        sut.Analyze(Frame(10));

        sut.Reset();

        Assert.Null(sut.Analyze(Frame(250)));
        Assert.Equal(0, sut.Analyze(Frame(250)));
    }

    [Fact]
    public void CompareAndUpdate_Vectorised_MatchesScalarBitForBit()
    {
        var random = new Random(42);
        var gray = new byte[160 * 120 + 7];
        random.NextBytes(gray);
        var bgA = new short[gray.Length];
        for (var i = 0; i < bgA.Length; i++)
        {
            bgA[i] = (short)random.Next(0, 255 << 7);
        }

        var bgB = (short[])bgA.Clone();
        var changedA = new byte[gray.Length];
        var changedB = new byte[gray.Length];

        var sut = MotionDetector.CompareAndUpdate(gray, bgA, changedA, 25, 1638);
        var expected = MotionDetector.CompareAndUpdateScalar(gray, bgB, changedB, 25, 1638);

        Assert.Equal(expected, sut);
        Assert.Equal(changedB, changedA);
        Assert.Equal(bgB, bgA);
    }

    [Theory]
    [InlineData(640, 480, 4)] // the default: 160 wide, 2 × 2 samples per block
    [InlineData(1280, 720, 8)]
    [InlineData(640, 360, 5)] // odd factor: 3 × 3 samples
    [InlineData(100, 60, 3)]
    [InlineData(48, 32, 2)]
    [InlineData(50, 30, 1)]
    [InlineData(1916, 1080, 12)] // rows wider than the used part
    public void Downscale_Vectorised_MatchesScalarBitForBit(int frameWidth, int frameHeight, int factor)
    {
        var frame = new byte[frameWidth * frameHeight * 3];
        new Random(factor).NextBytes(frame);
        int width = frameWidth / factor, height = frameHeight / factor;
        var vectorised = new byte[width * height];
        var scalar = new byte[width * height];

        MotionDetector.Downscale(frame, frameWidth, factor, new ushort[width * factor * 3], vectorised, width, height);
        MotionDetector.DownscaleScalar(frame, frameWidth, factor, scalar, width, height);

        Assert.Equal(scalar, vectorised);
        Assert.Contains(scalar, v => v is > 64 and < 192); // random pixels average to mid-grey, not to 0
    }

    [Theory]
    [InlineData(640, 480, 4)]
    [InlineData(1280, 720, 8)]
    [InlineData(640, 360, 5)]
    [InlineData(100, 60, 3)]
    [InlineData(48, 32, 2)]
    [InlineData(50, 30, 1)]
    [InlineData(1916, 1080, 12)]
    public void DownscaleLuma_Vectorised_MatchesScalarBitForBit(int frameWidth, int frameHeight, int factor)
    {
        var luma = new byte[frameWidth * frameHeight];
        new Random(factor).NextBytes(luma);
        int width = frameWidth / factor, height = frameHeight / factor;
        var vectorised = new byte[width * height];
        var scalar = new byte[width * height];

        MotionDetector.DownscaleLuma(luma, frameWidth, factor, new ushort[width * factor], vectorised, width, height);
        MotionDetector.DownscaleLumaScalar(luma, frameWidth, factor, scalar, width, height);

        Assert.Equal(scalar, vectorised);
        Assert.Contains(scalar, v => v is > 64 and < 192);
    }

    [Fact]
    public void Analyze_Yuv420pOfTheSameFrames_ScoresAndBoxesAsRgb24()
    {
        // The same scenes through both formats (converted as ffmpeg would): the Y plane is stretched to full range, so
        // the threshold means the same and the scores agree.
        var rgb = new MotionDetector(W, H, new MotionOptions());
        var yuv = new MotionDetector(W, H, new MotionOptions(), PixelFormats.Yuv420p);
        var background = Frame(60);
        Square(background, 40, 40, 100, 140); // texture that stays
        var moved = (byte[])background.Clone();
        Square(moved, 320, 240, 64, 250);
        Square(moved, 480, 80, 48, 20);

        double? last = null;
        foreach (var frame in new[] { background, background, moved })
        {
            var yuvFrame = new byte[PixelFormats.FrameBytes(PixelFormats.Yuv420p, W, H)];
            Yuv420p.FromRgb24(frame, W, H, yuvFrame);
            var expected = rgb.Analyze(frame);
            last = yuv.Analyze(yuvFrame);
            Assert.Equal(expected.HasValue, last.HasValue);
            Assert.Equal(expected ?? 0, last ?? 0, 4);
        }

        Assert.Equal(((64.0 * 64) + (48.0 * 48)) / (W * H), last!.Value, 4);
        Assert.Equal(rgb.Boxes.ToArray(), yuv.Boxes.ToArray());
        Assert.Equal(2, yuv.Boxes.Length);
    }

    [Fact]
    public void Analyze_WrongFrameSizeForTheFormat_Throws()
    {
        var sut = new MotionDetector(W, H, new MotionOptions(), PixelFormats.Yuv420p);

        Assert.Throws<ArgumentOutOfRangeException>(() => sut.Analyze(Frame(10))); // rgb24-sized
        Assert.Throws<ArgumentOutOfRangeException>(() => new MotionDetector(W, H, new MotionOptions(), PixelFormats.Gray));
    }

    [Fact]
    public void Analyze_MoverInTheLastPartialCell_IsBoxedToTheFrameEdge()
    {
        // 684 px at factor 4 is 171 analysis pixels: 21 whole cells of 8 and one of 3 at the right edge.
        const int width = 684;
        var sut = new MotionDetector(width, H, new MotionOptions());
        var still = new byte[width * H * 3];
        Array.Fill(still, (byte)80);
        var moving = (byte[])still.Clone();
        for (var row = 200; row < 328; row++)
        {
            moving.AsSpan(((row * width) + 672) * 3, 12 * 3).Fill(240);
        }

        sut.Analyze(still);
        sut.Analyze(moving);

        var box = Assert.Single(sut.Boxes.ToArray());
        Assert.Equal(width, box.X + box.Width, 3);
        Assert.Equal(672, box.X, 3);
    }

    [Theory]
    [InlineData(PixelFormats.Rgb24)]
    [InlineData(PixelFormats.Yuv420p)]
    public void Analyze_SteadyState_AllocatesNothing(string pixelFormat)
    {
        var sut = new MotionDetector(W, H, new MotionOptions(), pixelFormat);
        var still = Frame(80);
        var moving = Frame(80);
        Square(moving, 200, 200, 80, 240);
        if (pixelFormat == PixelFormats.Yuv420p)
        {
            // The same picture's luma as the Y plane (chroma neutral): the detector reads only Y.
            (still, moving) = (Yuv(still), Yuv(moving));
        }

        sut.Analyze(still);
        sut.Analyze(moving);

        var calls = 0;
        var allocated = Allocations.OfCurrentThread(() => sut.Analyze(calls++ % 2 == 0 ? still : moving), 50);

        Assert.Equal(0, allocated);
        Assert.NotEmpty(sut.Boxes.ToArray()); // every window ends on the moving frame: the measured path found the square
    }

    [Fact]
    public void Constructor_AnalysisWidth_DownscalesByWholeFactor()
    {
        var sut = new MotionDetector(1280, 720, new MotionOptions { AnalysisWidth = 160 });

        Assert.Equal(160, sut.Width);
        Assert.Equal(90, sut.Height);
    }
}
