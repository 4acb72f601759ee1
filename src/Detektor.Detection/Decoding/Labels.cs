namespace Detektor.Detection.Decoding;

/// <summary>Class names of a model, by class id.</summary>
public sealed class LabelSet
{
    public LabelSet(IReadOnlyList<string> names)
    {
        if (names.Count == 0)
        {
            throw new ArgumentException("A label set needs at least one name.", nameof(names));
        }

        Names = names;
    }

    /// <summary>The 80 COCO classes in the order COCO-trained models (CenterNet, YOLO) number them.</summary>
    public static LabelSet Coco { get; } = new(
    [
        "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
        "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
        "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
        "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
        "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
        "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed",
        "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven",
        "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
    ]);

    /// <summary>The single class of a face model.</summary>
    public static LabelSet Face { get; } = new(["face"]);

    public IReadOnlyList<string> Names { get; }

    public int Count => Names.Count;

    public string this[int classId] => (uint)classId < (uint)Names.Count ? Names[classId] : $"class_{classId}";

    public int IndexOf(string label)
    {
        for (var i = 0; i < Names.Count; i++)
        {
            if (string.Equals(Names[i], label, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Reads a label file: one name per line, blank lines and lines starting with '#' ignored.</summary>
    public static LabelSet Load(string path)
    {
        var names = File.ReadAllLines(path)
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .ToList();
        return names.Count == 0 ? throw new InvalidDataException($"Label file '{path}' has no labels.") : new LabelSet(names);
    }
}
