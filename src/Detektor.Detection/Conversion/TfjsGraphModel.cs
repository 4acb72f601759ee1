using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Detektor.Detection.Conversion;

/// <summary>One node of a TensorFlow.js graph model (a TensorFlow GraphDef node as JSON).</summary>
public sealed class TfjsNode
{
    public required string Name { get; init; }

    public required string Op { get; init; }

    /// <summary>Data inputs by node name (output index suffixes like <c>:1</c> kept; control inputs <c>^x</c> left out).</summary>
    public required IReadOnlyList<string> Inputs { get; init; }

    public required JsonElement Attributes { get; init; }

    public bool TryGetAttribute(string name, out JsonElement value)
    {
        if (Attributes.ValueKind == JsonValueKind.Object && Attributes.TryGetProperty(name, out value))
        {
            return true;
        }

        value = default;
        return false;
    }

    /// <summary>A string attribute (<c>s</c>, base64 in the JSON), e.g. padding <c>SAME</c>.</summary>
    public string? StringAttribute(string name) =>
        TryGetAttribute(name, out var a) && a.TryGetProperty("s", out var s) ? Encoding.UTF8.GetString(s.GetBytesFromBase64()) : null;

    public long[] IntListAttribute(string name)
    {
        if (!TryGetAttribute(name, out var a) || !a.TryGetProperty("list", out var list) || !list.TryGetProperty("i", out var items))
        {
            return [];
        }

        var result = new long[items.GetArrayLength()];
        var k = 0;
        foreach (var item in items.EnumerateArray())
        {
            result[k++] = item.ValueKind == JsonValueKind.String ? long.Parse(item.GetString()!, CultureInfo.InvariantCulture) : item.GetInt64();
        }

        return result;
    }

    public string[] StringListAttribute(string name)
    {
        if (!TryGetAttribute(name, out var a) || !a.TryGetProperty("list", out var list) || !list.TryGetProperty("s", out var items))
        {
            return [];
        }

        return [.. items.EnumerateArray().Select(s => Encoding.UTF8.GetString(s.GetBytesFromBase64()))];
    }

    public bool BoolAttribute(string name, bool fallback = false) =>
        TryGetAttribute(name, out var a) && a.TryGetProperty("b", out var b) ? b.GetBoolean() : fallback;

    public long? IntAttribute(string name)
    {
        if (!TryGetAttribute(name, out var a) || !a.TryGetProperty("i", out var i))
        {
            return null;
        }

        return i.ValueKind == JsonValueKind.String ? long.Parse(i.GetString()!, CultureInfo.InvariantCulture) : i.GetInt64();
    }
}

/// <summary>A weight of the weights manifest, dequantised: float32 weights in <see cref="Floats"/>, int32 in <see cref="Ints"/>.</summary>
public sealed class TfjsWeight
{
    public required string Name { get; init; }

    public required int[] Shape { get; init; }

    public float[]? Floats { get; init; }

    public int[]? Ints { get; init; }

    public int ElementCount => Floats?.Length ?? Ints!.Length;
}

/// <summary>
/// A TensorFlow.js graph model (<c>format: graph-model</c>): the nodes of <c>modelTopology</c> and the weights of
/// <c>weightsManifest</c>, read from the shard files in manifest order. Supports float32 and int32 weights, float16
/// quantisation and the affine uint8/uint16 quantisation of the TF.js converter.
/// </summary>
public sealed class TfjsGraphModel
{
    private TfjsGraphModel(IReadOnlyList<TfjsNode> nodes, IReadOnlyDictionary<string, TfjsWeight> weights, IReadOnlyList<string> signatureOutputs)
    {
        Nodes = nodes;
        Weights = weights;
        SignatureOutputs = signatureOutputs;
        NodesByName = nodes.ToDictionary(n => n.Name, StringComparer.Ordinal);
    }

    public IReadOnlyList<TfjsNode> Nodes { get; }

    public IReadOnlyDictionary<string, TfjsNode> NodesByName { get; }

    public IReadOnlyDictionary<string, TfjsWeight> Weights { get; }

    public IReadOnlyList<string> SignatureOutputs { get; }

    /// <summary>Reads <paramref name="modelJsonPath"/> and its weight shards from the same directory.</summary>
    public static TfjsGraphModel Load(string modelJsonPath)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(modelJsonPath))!;
        return Parse(File.ReadAllBytes(modelJsonPath), path =>
        {
            var file = Path.GetFullPath(Path.Combine(directory, path));
            if (!file.StartsWith(directory + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                throw new InvalidDataException($"Weight shard '{path}' points outside the model's directory.");
            }

            return File.ReadAllBytes(file);
        });
    }

    /// <summary>Parses model JSON; <paramref name="readShard"/> returns the bytes of a shard path named in the manifest.</summary>
    public static TfjsGraphModel Parse(ReadOnlySpan<byte> modelJson, Func<string, byte[]> readShard)
    {
        using var doc = JsonDocument.Parse(modelJson.ToArray());
        var root = doc.RootElement;
        if (root.TryGetProperty("format", out var format) && format.GetString() is { } f && f != "graph-model")
        {
            throw new InvalidDataException($"Expected a TF.js graph model, the file says format '{f}'.");
        }

        if (!root.TryGetProperty("modelTopology", out var topology) || !topology.TryGetProperty("node", out var nodeArray))
        {
            throw new InvalidDataException("The model JSON has no modelTopology.node.");
        }

        var nodes = new List<TfjsNode>(nodeArray.GetArrayLength());
        foreach (var node in nodeArray.EnumerateArray())
        {
            var inputs = new List<string>();
            if (node.TryGetProperty("input", out var inputArray))
            {
                foreach (var input in inputArray.EnumerateArray())
                {
                    var name = input.GetString()!;
                    if (!name.StartsWith('^'))
                    {
                        inputs.Add(name.EndsWith(":0", StringComparison.Ordinal) ? name[..^2] : name);
                    }
                }
            }

            nodes.Add(new TfjsNode
            {
                Name = node.GetProperty("name").GetString()!,
                Op = node.GetProperty("op").GetString()!,
                Inputs = inputs,
                Attributes = node.TryGetProperty("attr", out var attr) ? attr.Clone() : default,
            });
        }

        var outputs = new List<string>();
        if (root.TryGetProperty("signature", out var signature) && signature.TryGetProperty("outputs", out var sigOutputs))
        {
            outputs.AddRange(sigOutputs.EnumerateObject().Select(p => p.Name));
        }

        return new TfjsGraphModel(nodes, ReadWeights(root, readShard), outputs);
    }

    private static Dictionary<string, TfjsWeight> ReadWeights(JsonElement root, Func<string, byte[]> readShard)
    {
        var weights = new Dictionary<string, TfjsWeight>(StringComparer.Ordinal);
        if (!root.TryGetProperty("weightsManifest", out var manifest))
        {
            return weights;
        }

        foreach (var group in manifest.EnumerateArray())
        {
            using var data = new MemoryStream();
            foreach (var path in group.GetProperty("paths").EnumerateArray())
            {
                data.Write(readShard(path.GetString()!));
            }

            var bytes = data.GetBuffer().AsSpan(0, (int)data.Length);
            var offset = 0;
            foreach (var spec in group.GetProperty("weights").EnumerateArray())
            {
                var name = spec.GetProperty("name").GetString()!;
                var shape = spec.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray();
                var count = 1;
                foreach (var d in shape)
                {
                    count = checked(count * d);
                }

                var dtype = spec.GetProperty("dtype").GetString();
                string? quantized = null;
                float scale = 1, min = 0;
                if (spec.TryGetProperty("quantization", out var q))
                {
                    quantized = q.GetProperty("dtype").GetString();
                    if (q.TryGetProperty("scale", out var s))
                    {
                        scale = s.GetSingle();
                    }

                    if (q.TryGetProperty("min", out var m))
                    {
                        min = m.GetSingle();
                    }
                }

                var elementSize = quantized switch
                {
                    null => dtype is "float32" or "int32" ? 4 : throw new InvalidDataException($"Weight '{name}': dtype '{dtype}' is not supported."),
                    "float16" or "uint16" => 2,
                    "uint8" => 1,
                    _ => throw new InvalidDataException($"Weight '{name}': quantisation '{quantized}' is not supported."),
                };
                var length = checked(count * elementSize);
                if (offset + length > bytes.Length)
                {
                    throw new InvalidDataException($"Weight '{name}' needs bytes {offset}..{offset + length} but the shards hold {bytes.Length}.");
                }

                var raw = bytes.Slice(offset, length);
                offset += length;
                weights[name] = Decode(name, shape, dtype, quantized, scale, min, raw, count);
            }

            if (offset != bytes.Length)
            {
                throw new InvalidDataException($"The weight shards hold {bytes.Length} bytes but the manifest describes {offset}.");
            }
        }

        return weights;
    }

    private static TfjsWeight Decode(string name, int[] shape, string? dtype, string? quantized, float scale, float min, ReadOnlySpan<byte> raw, int count)
    {
        if (dtype == "int32")
        {
            var ints = new int[count];
            for (var i = 0; i < count; i++)
            {
                ints[i] = quantized switch
                {
                    null => BinaryPrimitives.ReadInt32LittleEndian(raw[(i * 4)..]),
                    "uint8" => (int)MathF.Round((raw[i] * scale) + min),
                    "uint16" => (int)MathF.Round((BinaryPrimitives.ReadUInt16LittleEndian(raw[(i * 2)..]) * scale) + min),
                    _ => throw new InvalidDataException($"Weight '{name}': int32 with {quantized} quantisation is not supported."),
                };
            }

            return new TfjsWeight { Name = name, Shape = shape, Ints = ints };
        }

        var floats = new float[count];
        for (var i = 0; i < count; i++)
        {
            floats[i] = quantized switch
            {
                null => BinaryPrimitives.ReadSingleLittleEndian(raw[(i * 4)..]),
                "float16" => (float)BinaryPrimitives.ReadHalfLittleEndian(raw[(i * 2)..]),
                "uint8" => (raw[i] * scale) + min,
                _ => (BinaryPrimitives.ReadUInt16LittleEndian(raw[(i * 2)..]) * scale) + min,
            };
        }

        return new TfjsWeight { Name = name, Shape = shape, Floats = floats };
    }
}
