using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Detektor.Core.Frames;
using Detektor.Core.Messages;

namespace Detektor.Capture.Motion;

/// <summary>
/// A cheap motion score for one camera's frames (rgb24, or yuv420p whose Y plane is used as it is): the frame is
/// box-downscaled to a small grayscale image, compared
/// with a running-average background, and the share of pixels that differ by more than a threshold is the score. Changed
/// pixels are grouped on a coarse grid into motion boxes (frame coordinates). All buffers are allocated once: analysing a
/// frame allocates nothing. Vectorised (<see cref="Vector{T}"/>) where the work is.
/// </summary>
public sealed class MotionDetector
{
    /// <summary>Side of a grid cell, in analysis pixels.</summary>
    public const int CellSize = 8;

    // Background is gray level in 8.7 fixed point (0..32640), so differences fit in a short.
    private const int BackgroundShift = 7;

    private readonly MotionOptions _options;
    private readonly int _frameWidth;
    private readonly int _frameHeight;
    private readonly int _factor;
    private readonly int _channels;
    private readonly int _frameBytes;
    private readonly ushort[] _rowSums;
    private readonly byte[] _gray;
    private readonly short[] _background;
    private readonly byte[] _changed;
    private readonly int _gridWidth;
    private readonly int _gridHeight;
    private readonly int[] _cellCounts;
    private readonly int[] _labels;
    private readonly int[] _stack;
    private readonly BoundingBox[] _boxes;
    private readonly short _rateQ15;
    private int _boxCount;
    private bool _hasBackground;

    /// <param name="frameWidth">Frame width.</param>
    /// <param name="frameHeight">Frame height.</param>
    /// <param name="options">Motion options.</param>
    /// <param name="pixelFormat">rgb24 (luma from R, G, B) or yuv420p (its Y plane, rescaled from limited range).</param>
    public MotionDetector(int frameWidth, int frameHeight, MotionOptions options, string pixelFormat = PixelFormats.Rgb24)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(frameWidth, 16);
        ArgumentOutOfRangeException.ThrowIfLessThan(frameHeight, 16);
        _options = options;
        _frameWidth = frameWidth;
        _frameHeight = frameHeight;
        _factor = Math.Clamp(frameWidth / Math.Max(16, options.AnalysisWidth), 1, 255);
        Width = frameWidth / _factor;
        Height = frameHeight / _factor;
        _channels = pixelFormat switch
        {
            PixelFormats.Rgb24 => 3,
            PixelFormats.Yuv420p => 1,
            _ => throw new ArgumentOutOfRangeException(nameof(pixelFormat), pixelFormat, "Motion needs rgb24 or yuv420p frames."),
        };
        _frameBytes = PixelFormats.FrameBytes(pixelFormat, frameWidth, frameHeight);
        _rowSums = new ushort[Width * _factor * _channels];
        _gray = new byte[Width * Height];
        _background = new short[Width * Height];
        _changed = new byte[Width * Height];
        _gridWidth = (Width + CellSize - 1) / CellSize;
        _gridHeight = (Height + CellSize - 1) / CellSize;
        _cellCounts = new int[_gridWidth * _gridHeight];
        _labels = new int[_gridWidth * _gridHeight];
        _stack = new int[_gridWidth * _gridHeight];
        _boxes = new BoundingBox[_gridWidth * _gridHeight];
        _rateQ15 = (short)Math.Clamp((int)Math.Round(options.BackgroundRate * 32767), 1, 32767);
    }

    /// <summary>Width of the analysis image.</summary>
    public int Width { get; }

    /// <summary>Height of the analysis image.</summary>
    public int Height { get; }

    /// <summary>The boxes of the last analysed frame, largest first (frame pixel coordinates).</summary>
    public ReadOnlySpan<BoundingBox> Boxes => _boxes.AsSpan(0, _boxCount);

    /// <summary>The grayscale analysis image of the last frame.</summary>
    public ReadOnlySpan<byte> Gray => _gray;

    /// <summary>Forgets the background (after a reconnect the picture may be another one).</summary>
    public void Reset()
    {
        _hasBackground = false;
        _boxCount = 0;
    }

    /// <summary>
    /// Scores one frame (of the format and size given at construction) and updates the background. Returns the share of
    /// changed pixels in [0, 1], or null for the first frame after construction or <see cref="Reset"/> (no background yet).
    /// </summary>
    public double? Analyze(ReadOnlySpan<byte> pixels)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(pixels.Length, _frameBytes);
        if (_channels == 3)
        {
            Downscale(pixels, _frameWidth, _factor, _rowSums, _gray, Width, Height);
        }
        else
        {
            DownscaleLuma(pixels[..(_frameWidth * _frameHeight)], _frameWidth, _factor, _rowSums, _gray, Width, Height);
        }

        _boxCount = 0;
        if (!_hasBackground)
        {
            for (var i = 0; i < _gray.Length; i++)
            {
                _background[i] = (short)(_gray[i] << BackgroundShift);
            }

            _hasBackground = true;
            return null;
        }

        var changed = CompareAndUpdate(_gray, _background, _changed, _options.PixelThreshold, _rateQ15);
        var score = (double)changed / _gray.Length;
        if (score >= _options.ScoreThreshold && changed > 0)
        {
            FindBoxes();
        }

        return score;
    }

    /// <summary>
    /// Marks pixels that differ from the background by more than <paramref name="threshold"/> (1 in
    /// <paramref name="changed"/>), moves the background towards the picture by <paramref name="rateQ15"/>/32768, and
    /// returns the number of changed pixels. Public for the equivalence test against <see cref="CompareAndUpdateScalar"/>.
    /// </summary>
    public static int CompareAndUpdate(ReadOnlySpan<byte> gray, Span<short> background, Span<byte> changed, int threshold, short rateQ15)
    {
        var count = 0;
        var i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var lanes = Vector<short>.Count;
            var thresholdV = new Vector<short>((short)threshold);
            var rateV = new Vector<int>(rateQ15);
            for (; i <= gray.Length - Vector<byte>.Count; i += Vector<byte>.Count)
            {
                Vector.Widen(new Vector<byte>(gray.Slice(i)), out var g0, out var g1);
                var ones0 = Step(Vector.AsVectorInt16(g0), background.Slice(i, lanes), thresholdV, rateV);
                var ones1 = Step(Vector.AsVectorInt16(g1), background.Slice(i + lanes, lanes), thresholdV, rateV);
                Vector.Narrow(Vector.AsVectorUInt16(ones0), Vector.AsVectorUInt16(ones1)).CopyTo(changed.Slice(i));
                count += Vector.Sum(ones0 + ones1);
            }
        }

        for (; i < gray.Length; i++)
        {
            count += ScalarPixel(gray[i], ref background[i], ref changed[i], threshold, rateQ15);
        }

        return count;
    }

    /// <summary>The scalar reference of <see cref="CompareAndUpdate"/> (same results, bit for bit).</summary>
    public static int CompareAndUpdateScalar(ReadOnlySpan<byte> gray, Span<short> background, Span<byte> changed, int threshold, short rateQ15)
    {
        var count = 0;
        for (var i = 0; i < gray.Length; i++)
        {
            count += ScalarPixel(gray[i], ref background[i], ref changed[i], threshold, rateQ15);
        }

        return count;
    }

    // One vector of pixels: returns 1 per changed lane, 0 otherwise, and moves the background.
    private static Vector<short> Step(Vector<short> gray, Span<short> background, Vector<short> threshold, Vector<int> rate)
    {
        var bg = new Vector<short>(background);
        var diff = Vector.Abs(gray - Vector.ShiftRightArithmetic(bg, BackgroundShift));
        var ones = Vector.GreaterThan(diff, threshold) & Vector<short>.One;

        // background += ((gray << 7) - background) * rate >> 15, in 32-bit lanes.
        Vector.Widen(Vector.ShiftLeft(gray, BackgroundShift) - bg, out var d0, out var d1);
        d0 = Vector.ShiftRightArithmetic(d0 * rate, 15);
        d1 = Vector.ShiftRightArithmetic(d1 * rate, 15);
        (bg + Vector.Narrow(d0, d1)).CopyTo(background);
        return ones;
    }

    private static int ScalarPixel(byte gray, ref short background, ref byte changed, int threshold, short rateQ15)
    {
        var level = background >> BackgroundShift;
        var isChanged = Math.Abs(gray - level) > threshold ? 1 : 0;
        changed = (byte)isChanged;
        var delta = (gray << BackgroundShift) - background;
        background = (short)(background + ((delta * rateQ15) >> 15));
        return isChanged;
    }

    /// <summary>
    /// Box-downscales an rgb24 frame by <paramref name="factor"/> into grayscale (BT.601 weights 77/150/29 of 256). Each
    /// analysis pixel averages a grid of samples of its f × f block: every <c>step</c>-th row and pixel, step = f / 2
    /// (all of them when f &lt;= 2) — half the memory traffic of a full box filter at f = 4, and still a low-pass filter.
    /// <paramref name="rowSums"/> is scratch of at least <c>width · factor · 3</c>. Public for the equivalence test against
    /// <see cref="DownscaleScalar"/>.
    /// </summary>
    public static void Downscale(ReadOnlySpan<byte> rgb24, int frameWidth, int factor, Span<ushort> rowSums, Span<byte> gray, int width, int height) =>
        Downscale(rgb24, frameWidth, 3, factor, rowSums, gray, width, height);

    /// <summary>
    /// The same for the Y plane of a yuv420p frame (limited range, 16–235, stretched to 0–255 so that
    /// <see cref="MotionOptions.PixelThreshold"/> means the same as with rgb24). <paramref name="rowSums"/> is scratch of at
    /// least <c>width · factor</c>. Public for the equivalence test against <see cref="DownscaleLumaScalar"/>.
    /// </summary>
    public static void DownscaleLuma(ReadOnlySpan<byte> luma, int frameWidth, int factor, Span<ushort> rowSums, Span<byte> gray, int width, int height) =>
        Downscale(luma, frameWidth, 1, factor, rowSums, gray, width, height);

    private static void Downscale(ReadOnlySpan<byte> pixels, int frameWidth, int channels, int factor, Span<ushort> rowSums, Span<byte> gray, int width, int height)
    {
        var (step, samples, scale) = SamplingOf(factor);
        var rowBytes = frameWidth * channels;
        var blockBytes = factor * channels;
        var usedBytes = width * blockBytes;
        var pixelStride = step * channels;
        var reach = (samples - 1) * pixelStride;
        var sums = rowSums[..usedBytes];
        for (var oy = 0; oy < height; oy++)
        {
            // One pass per sampled row, vectorised: sums[j] += row[j] + row[j + stride] + … (the block's sampled pixels).
            // Every lane is summed, but only the first pixel of each block (its r, g, b, or its y) is read below: adding the
            // horizontal samples here turns the scalar pass below into one load per channel per analysis pixel.
            sums.Clear();
            for (var r = 0; r < factor; r += step)
            {
                var row = pixels.Slice(((oy * factor) + r) * rowBytes, rowBytes);
                var i = 0;
                if (Vector.IsHardwareAccelerated)
                {
                    // Unchecked loads: i ≤ last keeps every load inside the row (reach included) and every store inside sums.
                    var lanes = Vector<ushort>.Count;
                    var last = Math.Min(usedBytes, row.Length - reach) - Vector<byte>.Count;
                    ref var row0 = ref MemoryMarshal.GetReference(row);
                    ref var sums0 = ref MemoryMarshal.GetReference(sums);
                    for (; i <= last; i += Vector<byte>.Count)
                    {
                        // samples is 1, 2 or 3 (step = f / 2): unrolled, the loop over them cost more than it saved.
                        Vector.Widen(Vector.LoadUnsafe(ref row0, (nuint)i), out var lo, out var hi);
                        if (samples > 1)
                        {
                            Vector.Widen(Vector.LoadUnsafe(ref row0, (nuint)(i + pixelStride)), out var lo1, out var hi1);
                            lo += lo1;
                            hi += hi1;
                            if (samples > 2)
                            {
                                Vector.Widen(Vector.LoadUnsafe(ref row0, (nuint)(i + (2 * pixelStride))), out var lo2, out var hi2);
                                lo += lo2;
                                hi += hi2;
                            }
                        }

                        (Vector.LoadUnsafe(ref sums0, (nuint)i) + lo).StoreUnsafe(ref sums0, (nuint)i);
                        (Vector.LoadUnsafe(ref sums0, (nuint)(i + lanes)) + hi).StoreUnsafe(ref sums0, (nuint)(i + lanes));
                    }
                }

                // The tail: only the lanes that are read below (each block's first pixel), block by block. (A test of
                // i % blockBytes per byte here cost more than the whole vector pass: a division per tail byte.)
                for (var block = i / blockBytes * blockBytes; block < usedBytes; block += blockBytes)
                {
                    for (var j = Math.Max(block, i); j < block + channels; j++)
                    {
                        for (var m = 0; m <= reach; m += pixelStride)
                        {
                            sums[j] += row[j + m];
                        }
                    }
                }
            }

            // Gray of each block's sums. (No bounds checks: p + channels - 1 < usedBytes for every ox < width.)
            ref var sum0 = ref MemoryMarshal.GetReference(sums);
            ref var gray0 = ref MemoryMarshal.GetReference(gray.Slice(oy * width, width));
            if (channels == 3)
            {
                for (int ox = 0, p = 0; ox < width; ox++, p += blockBytes)
                {
                    Unsafe.Add(ref gray0, ox) = Luma(Unsafe.Add(ref sum0, p), Unsafe.Add(ref sum0, p + 1), Unsafe.Add(ref sum0, p + 2), scale);
                }
            }
            else
            {
                // A table of FullRange over every possible sum: the float conversions per pixel cost more than the
                // vectorised pass above. (Sums are at most 255 · samples², the table's length.)
                var table = FullRangeTables[samples];
                for (int ox = 0, p = 0; ox < width; ox++, p += blockBytes)
                {
                    Unsafe.Add(ref gray0, ox) = table[Unsafe.Add(ref sum0, p)];
                }
            }
        }
    }

    /// <summary>The plain reference of <see cref="DownscaleLuma"/> (same results, bit for bit).</summary>
    public static void DownscaleLumaScalar(ReadOnlySpan<byte> luma, int frameWidth, int factor, Span<byte> gray, int width, int height)
    {
        var (step, _, scale) = SamplingOf(factor);
        for (var oy = 0; oy < height; oy++)
        {
            for (var ox = 0; ox < width; ox++)
            {
                var sum = 0;
                for (var dy = 0; dy < factor; dy += step)
                {
                    for (var dx = 0; dx < factor; dx += step)
                    {
                        sum += luma[((((oy * factor) + dy) * frameWidth) + (ox * factor) + dx)];
                    }
                }

                gray[(oy * width) + ox] = FullRange(sum, scale);
            }
        }
    }

    /// <summary>The plain reference of <see cref="Downscale(ReadOnlySpan{byte}, int, int, Span{ushort}, Span{byte}, int, int)"/> (same results, bit for bit).</summary>
    public static void DownscaleScalar(ReadOnlySpan<byte> rgb24, int frameWidth, int factor, Span<byte> gray, int width, int height)
    {
        var (step, _, scale) = SamplingOf(factor);
        for (var oy = 0; oy < height; oy++)
        {
            for (var ox = 0; ox < width; ox++)
            {
                int r = 0, g = 0, b = 0;
                for (var dy = 0; dy < factor; dy += step)
                {
                    for (var dx = 0; dx < factor; dx += step)
                    {
                        var p = ((((oy * factor) + dy) * frameWidth) + (ox * factor) + dx) * 3;
                        r += rgb24[p];
                        g += rgb24[p + 1];
                        b += rgb24[p + 2];
                    }
                }

                gray[(oy * width) + ox] = Luma(r, g, b, scale);
            }
        }
    }

    private static (int Step, int Samples, float Scale) SamplingOf(int factor)
    {
        var step = Math.Max(1, factor / 2);
        var samples = (factor + step - 1) / step;
        return (step, samples, 1f / (256 * samples * samples));
    }

    /// <summary><see cref="FullRange"/> of every sum of 1, 4 or 9 samples, by the number of samples a side (1–3).</summary>
    private static readonly byte[][] FullRangeTables;

    /// <summary>
    /// Explicit, so that the tables are built when the first detector is constructed. With a field initializer alone the
    /// type is beforefieldinit, and the runtime may build them whenever it chooses, for instance while compiling a method
    /// that reads them in the middle of an analysis.
    /// </summary>
    static MotionDetector()
    {
        FullRangeTables = [.. Enumerable.Range(0, 4).Select(static samples => samples == 0 ? [] :
            Enumerable.Range(0, (255 * samples * samples) + 1).Select(sum => FullRange(sum, 1f / (256 * samples * samples))).ToArray())];
    }

    private static byte Luma(int r, int g, int b, float scale) => (byte)(((77 * r) + (150 * g) + (29 * b)) * scale);

    /// <summary>The mean of a block's Y samples (<paramref name="scale"/> is 1 / (256 · samples²)), from 16–235 to 0–255.</summary>
    private static byte FullRange(int sum, float scale) => (byte)Math.Clamp((int)(((sum * 256 * scale) - 16) * (255f / 219f)), 0, 255);

    private void FindBoxes()
    {
        // Changed pixels per grid cell.
        Array.Clear(_cellCounts);
        for (var y = 0; y < Height; y++)
        {
            var row = _changed.AsSpan(y * Width, Width);
            var cellRow = (y / CellSize) * _gridWidth;
            var x = 0;

            // Marks are 0 or 1 per byte: a full cell row of 8 is one 64-bit word, and its count the word's set bits.
            for (; CellSize == sizeof(ulong) && x + CellSize <= Width; x += CellSize)
            {
                _cellCounts[cellRow + (x / CellSize)] += BitOperations.PopCount(MemoryMarshal.Read<ulong>(row.Slice(x)));
            }

            for (; x < Width; x++)
            {
                _cellCounts[cellRow + (x / CellSize)] += row[x];
            }
        }

        // A cell is active when at least a fifth of it changed; active cells joined 8-connected form one box.
        const int minChanged = CellSize * CellSize / 5;
        Array.Fill(_labels, 0);
        var label = 0;
        var scale = (float)_factor * CellSize;
        var minArea = _options.MinBoxArea * _frameWidth * _frameHeight;
        for (var start = 0; start < _cellCounts.Length; start++)
        {
            if (_labels[start] != 0 || _cellCounts[start] < minChanged)
            {
                continue;
            }

            label++;
            int x0 = int.MaxValue, y0 = int.MaxValue, x1 = -1, y1 = -1;
            var top = 0;
            _stack[top++] = start;
            _labels[start] = label;
            while (top > 0)
            {
                var cell = _stack[--top];
                int cx = cell % _gridWidth, cy = cell / _gridWidth;
                x0 = Math.Min(x0, cx);
                y0 = Math.Min(y0, cy);
                x1 = Math.Max(x1, cx);
                y1 = Math.Max(y1, cy);
                for (var dy = -1; dy <= 1; dy++)
                {
                    for (var dx = -1; dx <= 1; dx++)
                    {
                        int nx = cx + dx, ny = cy + dy;
                        if (nx < 0 || ny < 0 || nx >= _gridWidth || ny >= _gridHeight)
                        {
                            continue;
                        }

                        var n = (ny * _gridWidth) + nx;
                        if (_labels[n] == 0 && _cellCounts[n] >= minChanged)
                        {
                            _labels[n] = label;
                            _stack[top++] = n;
                        }
                    }
                }
            }

            var bx = x0 * scale;
            var by = y0 * scale;
            var box = new BoundingBox(bx, by, Math.Min(_frameWidth, (x1 + 1) * scale) - bx, Math.Min(_frameHeight, (y1 + 1) * scale) - by);
            if (box.Area >= minArea)
            {
                _boxes[_boxCount++] = box;
            }
        }

        var boxes = _boxes.AsSpan(0, _boxCount);
        boxes.Sort(static (a, b) => b.Area.CompareTo(a.Area));
        _boxCount = Math.Min(_boxCount, _options.MaxBoxes);
    }
}
