using System.Diagnostics;
using Detektor.Core.Frames;
using Detektor.Testing;

namespace Detektor.Imaging.Tests;

/// <summary>The yuv420p conversions against ffmpeg's own (swscale), on a frame of real footage.</summary>
public sealed class Yuv420pTests(ITestOutputHelper output)
{
    private const int W = 320;
    private const int H = 240;

    [Fact]
    public async Task ToRgb24_RealFrame_MatchesFfmpegsConversionOfTheSameBytes()
    {
        var (yuv, expected) = await FrameAndFfmpegsConversionAsync(PixelFormats.Yuv420p, PixelFormats.Rgb24);
        Assert.Equal(PixelFormats.FrameBytes(PixelFormats.Yuv420p, W, H), yuv.Length);
        Assert.Equal(W * H * 3, expected.Length);

        var sut = new byte[W * H * 3];
        Yuv420p.ToRgb24(yuv, W, H, sut);

        var (mean, p99, max) = Differences(sut, expected);
        output.WriteLine($"|ours - ffmpeg|: mean {mean:0.000}, p99 {p99}, max {max}");
        Assert.True(mean < 1.5, $"mean difference {mean:0.000} (p99 {p99}, max {max})");
        Assert.True(p99 <= 4, $"p99 difference {p99} (mean {mean:0.000}, max {max})");
    }

    [Fact]
    public async Task FromRgb24_RealFrame_MatchesFfmpegsConversionOfTheSameBytes()
    {
        var (rgb, expected) = await FrameAndFfmpegsConversionAsync(PixelFormats.Rgb24, PixelFormats.Yuv420p);

        var sut = new byte[PixelFormats.FrameBytes(PixelFormats.Yuv420p, W, H)];
        Yuv420p.FromRgb24(rgb, W, H, sut);

        var (lumaMean, lumaP99, _) = Differences(sut.AsSpan(0, W * H), expected.AsSpan(0, W * H));
        var (chromaMean, chromaP99, _) = Differences(sut.AsSpan(W * H), expected.AsSpan(W * H));
        output.WriteLine($"Y: mean {lumaMean:0.000}, p99 {lumaP99}; U, V: mean {chromaMean:0.000}, p99 {chromaP99}");
        Assert.True(lumaMean < 0.5 && lumaP99 <= 2, $"Y differs: mean {lumaMean:0.000}, p99 {lumaP99}");
        Assert.True(chromaMean < 0.5 && chromaP99 <= 2, $"U, V differ: mean {chromaMean:0.000}, p99 {chromaP99}");
    }

    [Fact]
    public void ToRgb24Row_ColumnRange_ConvertsOnlyThoseColumnsAndEqualsTheWholeFrame()
    {
        var yuv = new byte[PixelFormats.FrameBytes(PixelFormats.Yuv420p, 16, 4)];
        Random.Shared.NextBytes(yuv);
        var whole = new byte[16 * 4 * 3];
        Yuv420p.ToRgb24(yuv, 16, 4, whole);
        var row = new byte[16 * 3];
        Array.Fill(row, (byte)7);

        Yuv420p.ToRgb24Row(yuv, 16, 4, 3, 5, 11, row);

        Assert.Equal(whole.AsSpan((3 * 16 * 3) + 15, 18).ToArray(), row.AsSpan(15, 18).ToArray());
        Assert.All(row.AsSpan(0, 15).ToArray(), b => Assert.Equal(7, b));
        Assert.All(row.AsSpan(33).ToArray(), b => Assert.Equal(7, b));
    }

    [Theory]
    [InlineData(64, 2, 0, 64)]
    [InlineData(98, 6, 3, 97)]
    [InlineData(770, 4, 1, 769)]
    [InlineData(36, 2, 17, 18)]
    public void ToRgbPlanesRow_RandomFrames_EqualTheFormulaForEveryPixel(int width, int height, int x0, int x1)
    {
        // The vector steps (16 pixels) and the scalar head and tail against the formula written out here, on every row.
        var random = new Random(width * 31 + x0);
        var yuv = new byte[PixelFormats.FrameBytes(PixelFormats.Yuv420p, width, height)];
        for (var round = 0; round < 40; round++)
        {
            random.NextBytes(yuv);
            for (var y = 0; y < height; y++)
            {
                byte[] r = new byte[width], g = new byte[width], b = new byte[width];
                Array.Fill(r, (byte)7);

                Yuv420p.ToRgbPlanesRow(yuv, width, height, y, x0, x1, r, g, b);

                for (var x = 0; x < width; x++)
                {
                    if (x < x0 || x >= x1)
                    {
                        Assert.Equal(7, r[x]);
                        continue;
                    }

                    var (er, eg, eb) = Formula(yuv, width, height, x, y);
                    Assert.True((er, eg, eb) == (r[x], g[x], b[x]), $"{width}x{height} ({x},{y}): expected {(er, eg, eb)}, got {(r[x], g[x], b[x])}");
                }
            }
        }
    }

    [Fact]
    public void ToRgbPlanesRow_EveryLumaAndChromaValue_EqualsTheFormula()
    {
        // 256 luma values across a row of 256 pixels (128 chroma pairs), each chroma pair through all 256 × 256 U, V.
        const int width = 256;
        const int height = 2;
        var yuv = new byte[PixelFormats.FrameBytes(PixelFormats.Yuv420p, width, height)];
        for (var x = 0; x < width; x++)
        {
            yuv[x] = (byte)x;
        }

        var (r, g, b) = (new byte[width], new byte[width], new byte[width]);
        for (var shift = 0; shift < 512; shift++)
        {
            for (var c = 0; c < width / 2; c++)
            {
                var k = (shift * 128) + c;
                yuv[(width * height) + c] = (byte)(k & 255);
                yuv[(width * height) + (width * height / 4) + c] = (byte)(k >> 8);
            }

            Yuv420p.ToRgbPlanesRow(yuv, width, height, 0, 0, width, r, g, b);
            for (var x = 0; x < width; x++)
            {
                Assert.Equal(Formula(yuv, width, height, x, 0), (r[x], g[x], b[x]));
            }
        }
    }

    [Theory]
    [InlineData(64, 2)]
    [InlineData(98, 6)] // a scalar tail of 2 pixels after six vector steps
    [InlineData(18, 4)]
    [InlineData(2, 2)] // no vector step at all
    public void ToRgba32_RandomFrames_EqualTheFormulaWithOpaqueAlphaForEveryPixel(int width, int height)
    {
        var random = new Random((width * 31) + height);
        var yuv = new byte[PixelFormats.FrameBytes(PixelFormats.Yuv420p, width, height)];
        var rgba = new byte[(width * height * 4) + 8];
        for (var round = 0; round < 40; round++)
        {
            random.NextBytes(yuv);
            Array.Fill(rgba, (byte)7);

            Yuv420p.ToRgba32(yuv, width, height, rgba);

            for (var y = 0; y < height; y++)
            {
                for (var x = 0; x < width; x++)
                {
                    var p = ((y * width) + x) * 4;
                    var (er, eg, eb) = Formula(yuv, width, height, x, y);
                    Assert.True((er, eg, eb, (byte)255) == (rgba[p], rgba[p + 1], rgba[p + 2], rgba[p + 3]), $"{width}x{height} ({x},{y}): expected {(er, eg, eb, 255)}, got {(rgba[p], rgba[p + 1], rgba[p + 2], rgba[p + 3])}");
                }
            }

            Assert.All(rgba[(width * height * 4)..], b => Assert.Equal(7, b)); // nothing written past the frame
        }
    }

    [Fact]
    public void ToRgba32_EveryLumaAndChromaValue_EqualsToRgb24()
    {
        // As ToRgbPlanesRow_EveryLumaAndChromaValue_EqualsTheFormula: every Y against every U, V pair, through the RGBA path.
        const int width = 256;
        const int height = 2;
        var yuv = new byte[PixelFormats.FrameBytes(PixelFormats.Yuv420p, width, height)];
        for (var x = 0; x < width; x++)
        {
            yuv[x] = (byte)x;
            yuv[width + x] = (byte)(255 - x);
        }

        var (rgb, rgba) = (new byte[width * height * 3], new byte[width * height * 4]);
        for (var shift = 0; shift < 512; shift++)
        {
            for (var c = 0; c < width / 2; c++)
            {
                var k = (shift * 128) + c;
                yuv[(width * height) + c] = (byte)(k & 255);
                yuv[(width * height) + (width * height / 4) + c] = (byte)(k >> 8);
            }

            Yuv420p.ToRgb24(yuv, width, height, rgb);
            Yuv420p.ToRgba32(yuv, width, height, rgba);
            for (var i = 0; i < width * height; i++)
            {
                Assert.Equal((rgb[3 * i], rgb[(3 * i) + 1], rgb[(3 * i) + 2], (byte)255), (rgba[4 * i], rgba[(4 * i) + 1], rgba[(4 * i) + 2], rgba[(4 * i) + 3]));
            }
        }
    }

    [Theory]
    [InlineData(34, 6)] // vector steps of 8 pixels (4 chroma samples) and scalar tails of 2 pixels, 1 chroma sample
    [InlineData(16, 2)]
    [InlineData(770, 4)]
    [InlineData(2, 2)] // no vector step
    public void FromRgba32_RandomPixels_SameAsFromRgb24IgnoringAlpha(int width, int height)
    {
        // FromRgb24 is the scalar formula; FromRgba32 is vectorised where it can be: every Y, U and V must match.
        var random = new Random((width * 7) + height);
        var rgba = new byte[width * height * 4];
        var rgb = new byte[width * height * 3];
        var (fromRgb, fromRgba) = (new byte[PixelFormats.FrameBytes(PixelFormats.Yuv420p, width, height)], new byte[PixelFormats.FrameBytes(PixelFormats.Yuv420p, width, height)]);
        for (var round = 0; round < 40; round++)
        {
            random.NextBytes(rgba);
            if (round == 1)
            {
                Array.Fill(rgba, (byte)255); // the top of the range: the sums and clamps at their largest
            }

            for (var i = 0; i < width * height; i++)
            {
                (rgb[3 * i], rgb[(3 * i) + 1], rgb[(3 * i) + 2]) = (rgba[4 * i], rgba[(4 * i) + 1], rgba[(4 * i) + 2]);
            }

            Yuv420p.FromRgb24(rgb, width, height, fromRgb);
            Yuv420p.FromRgba32(rgba, width, height, fromRgba);

            Assert.Equal(fromRgb, fromRgba);
        }

        Assert.Contains(fromRgba, b => b != fromRgba[0]); // a real frame, not one value everywhere
    }

    [Fact]
    public void ToRgba32_ShortBuffers_ClearErrors()
    {
        var yuv = new byte[PixelFormats.FrameBytes(PixelFormats.Yuv420p, 16, 4)];

        Assert.Throws<ArgumentException>(() => Yuv420p.ToRgba32(yuv.AsSpan(1), 16, 4, new byte[16 * 4 * 4]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Yuv420p.ToRgba32(yuv, 16, 4, new byte[(16 * 4 * 4) - 1]));
    }

    private static (byte R, byte G, byte B) Formula(byte[] yuv, int width, int height, int x, int y)
    {
        var luma = yuv[(y * width) + x];
        var chroma = ((y / 2) * (width / 2)) + (x / 2);
        var d = yuv[(width * height) + chroma] - 128;
        var e = yuv[(width * height) + (width * height / 4) + chroma] - 128;
        var c = (298 * (luma - 16)) + 128;
        static byte Clamp(int v) => (byte)Math.Clamp(v >> 8, 0, 255);
        return (Clamp(c + (409 * e)), Clamp(c - (100 * d) - (208 * e)), Clamp(c + (516 * d)));
    }

    [Fact]
    public void Limits_BlackWhiteAndGray_MapToFullRange()
    {
        // Limited range: Y 16 is black, 235 white; U = V = 128 is no colour.
        foreach (var (y, rgb) in new[] { (16, 0), (235, 255), (126, 128) })
        {
            var yuv = new byte[PixelFormats.FrameBytes(PixelFormats.Yuv420p, 2, 2)];
            yuv.AsSpan(0, 4).Fill((byte)y);
            yuv.AsSpan(4).Fill(128);
            var sut = new byte[12];

            Yuv420p.ToRgb24(yuv, 2, 2, sut);

            Assert.All(sut, b => Assert.Equal(rgb, b));
        }
    }

    [Fact]
    public void Sizes_OddOrShort_ClearErrors()
    {
        Assert.Contains("even sizes", Assert.Throws<ArgumentException>(() => PixelFormats.FrameBytes(PixelFormats.Yuv420p, 3, 2)).Message, StringComparison.Ordinal);
        Assert.Contains("needs 6 bytes, got 5", Assert.Throws<ArgumentException>(() => Yuv420p.ToRgb24(new byte[5], 2, 2, new byte[12])).Message, StringComparison.Ordinal);
        Assert.Throws<NotSupportedException>(() => Yuv420p.AsRgb24(new byte[4], PixelFormats.Gray, 2, 2, out _));
    }

    private static (double Mean, int P99, int Max) Differences(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        var histogram = new long[256];
        long total = 0;
        for (var i = 0; i < a.Length; i++)
        {
            var d = Math.Abs(a[i] - b[i]);
            histogram[d]++;
            total += d;
        }

        var max = Array.FindLastIndex(histogram, c => c > 0);
        long seen = 0;
        var p99 = 0;
        for (; p99 < 256; p99++)
        {
            seen += histogram[p99];
            if (seen >= a.Length * 0.99)
            {
                break;
            }
        }

        return ((double)total / a.Length, p99, max);
    }

    /// <summary>
    /// A frame of real footage in <paramref name="from"/>, and ffmpeg's conversion of those very bytes to
    /// <paramref name="to"/>: the only differences left to a conversion of ours are rounding and chroma sampling.
    /// </summary>
    private static async Task<(byte[] Frame, byte[] Converted)> FrameAndFfmpegsConversionAsync(string from, string to)
    {
        using var dir = new TempDirectory();
        var source = dir.Combine("frame." + from);
        var converted = dir.Combine("frame." + to);
        await FfmpegAsync("-i", Footage.Get("vtest.mp4"), "-frames:v", "1", "-vf", $"scale={W}:{H}", "-pix_fmt", from, "-f", "rawvideo", source);
        await FfmpegAsync("-f", "rawvideo", "-pix_fmt", from, "-s", $"{W}x{H}", "-i", source, "-pix_fmt", to, "-f", "rawvideo", converted);
        return (await File.ReadAllBytesAsync(source, TestContext.Current.CancellationToken), await File.ReadAllBytesAsync(converted, TestContext.Current.CancellationToken));
    }

    private static async Task FfmpegAsync(params string[] arguments)
    {
        var info = new ProcessStartInfo(RequiredTool.Find("ffmpeg")) { RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])["-hide_banner", "-loglevel", "error", "-y", .. arguments])
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"ffmpeg {string.Join(' ', arguments)}: {await stderr}");
    }
}
