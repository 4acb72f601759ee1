namespace Detektor.Detection.Decoding;

/// <summary>A decoded box in model-input pixels (corners), before NMS and before mapping back to the frame.</summary>
public readonly record struct Candidate(float X1, float Y1, float X2, float Y2, float Score, int ClassId)
{
    public float Area => Math.Max(0, X2 - X1) * Math.Max(0, Y2 - Y1);

    public float IoU(in Candidate other)
    {
        var w = Math.Min(X2, other.X2) - Math.Max(X1, other.X1);
        var h = Math.Min(Y2, other.Y2) - Math.Max(Y1, other.Y1);
        if (w <= 0 || h <= 0)
        {
            return 0;
        }

        var intersection = w * h;
        var union = Area + other.Area - intersection;
        return union <= 0 ? 0 : intersection / union;
    }
}

/// <summary>
/// A growable buffer of candidates that is reused frame after frame (no allocation once it has grown to the busiest
/// frame's size). Decoders append; <see cref="Nms"/> filters in place.
/// </summary>
public sealed class CandidateBuffer
{
    private Candidate[] _items;

    public CandidateBuffer(int capacity = 256) => _items = new Candidate[Math.Max(capacity, 4)];

    public int Count { get; private set; }

    public Span<Candidate> Span => _items.AsSpan(0, Count);

    public Candidate this[int index] => _items[index];

    public void Clear() => Count = 0;

    public void Add(in Candidate candidate)
    {
        if (Count == _items.Length)
        {
            Array.Resize(ref _items, _items.Length * 2);
        }

        _items[Count++] = candidate;
    }

    internal void Truncate(int count) => Count = count;
}

/// <summary>Which classes a caller wants, and the minimum score of each (per-camera label lists and minimum scores).</summary>
public sealed class ClassFilter
{
    private readonly float[] _minScores;

    /// <summary>Accepts every class at <paramref name="defaultMinScore"/>.</summary>
    public ClassFilter(int classCount, float defaultMinScore)
    {
        _minScores = new float[classCount];
        Array.Fill(_minScores, defaultMinScore);
        LowestMinScore = defaultMinScore;
    }

    /// <summary>
    /// Only <paramref name="labels"/> (all when empty), each at its entry in <paramref name="minScores"/> or at
    /// <paramref name="defaultMinScore"/>. Unknown labels are ignored.
    /// </summary>
    public ClassFilter(LabelSet labels, float defaultMinScore, IReadOnlyCollection<string>? only, IReadOnlyDictionary<string, float>? minScores)
    {
        _minScores = new float[labels.Count];
        var keep = only is { Count: > 0 } ? new HashSet<string>(only, StringComparer.OrdinalIgnoreCase) : null;
        var lowest = float.PositiveInfinity;
        for (var i = 0; i < labels.Count; i++)
        {
            var name = labels[i];
            if (keep is not null && !keep.Contains(name))
            {
                _minScores[i] = float.PositiveInfinity;
                continue;
            }

            var score = defaultMinScore;
            if (minScores is not null)
            {
                foreach (var (label, min) in minScores)
                {
                    if (string.Equals(label, name, StringComparison.OrdinalIgnoreCase))
                    {
                        score = min;
                    }
                }
            }

            _minScores[i] = score;
            lowest = Math.Min(lowest, score);
        }

        LowestMinScore = lowest;
    }

    /// <summary>The smallest threshold of any accepted class: decoders skip everything below it early.</summary>
    public float LowestMinScore { get; }

    public int ClassCount => _minScores.Length;

    public bool Accepts(int classId, float score) => (uint)classId < (uint)_minScores.Length && score >= _minScores[classId];

    public float MinScore(int classId) => (uint)classId < (uint)_minScores.Length ? _minScores[classId] : float.PositiveInfinity;
}
