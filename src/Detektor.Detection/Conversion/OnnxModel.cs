using System.Runtime.InteropServices;
using Google.Protobuf;

namespace Detektor.Detection.Conversion;

/// <summary>ONNX tensor element types (TensorProto.DataType) that Detektor writes.</summary>
public enum OnnxDataType
{
    /// <summary>float32</summary>
    F32 = 1,

    /// <summary>uint8</summary>
    U8 = 2,

    /// <summary>int32</summary>
    I32 = 6,

    /// <summary>int64</summary>
    I64 = 7,
}

/// <summary>A constant tensor (initializer or Constant node value), stored little-endian in <c>raw_data</c>.</summary>
public sealed class OnnxTensor
{
    public OnnxTensor(string name, OnnxDataType type, long[] dims, byte[] raw)
    {
        Name = name;
        Type = type;
        Dims = dims;
        Raw = raw;
    }

    public string Name { get; }

    public OnnxDataType Type { get; }

    public long[] Dims { get; }

    public byte[] Raw { get; }

    public static OnnxTensor FromFloats(string name, long[] dims, ReadOnlySpan<float> values) =>
        new(name, OnnxDataType.F32, dims, MemoryMarshal.AsBytes(values).ToArray());

    public static OnnxTensor FromInt64s(string name, long[] dims, ReadOnlySpan<long> values) =>
        new(name, OnnxDataType.I64, dims, MemoryMarshal.AsBytes(values).ToArray());
}

/// <summary>A node attribute (AttributeProto): one of int, float, string, ints, floats or tensor.</summary>
public sealed class OnnxAttribute
{
    private OnnxAttribute(string name) => Name = name;

    public string Name { get; }

    internal long? Int { get; private init; }

    internal float? Float { get; private init; }

    internal string? Text { get; private init; }

    internal long[]? Ints { get; private init; }

    internal float[]? Floats { get; private init; }

    internal OnnxTensor? Tensor { get; private init; }

    public static OnnxAttribute Of(string name, long value) => new(name) { Int = value };

    public static OnnxAttribute Of(string name, float value) => new(name) { Float = value };

    public static OnnxAttribute Of(string name, string value) => new(name) { Text = value };

    public static OnnxAttribute Of(string name, params long[] values) => new(name) { Ints = values };

    public static OnnxAttribute Of(string name, float[] values) => new(name) { Floats = values };

    public static OnnxAttribute Of(string name, OnnxTensor value) => new(name) { Tensor = value };
}

/// <summary>One operator (NodeProto) of the default ONNX domain.</summary>
public sealed record OnnxNode(string OpType, string Name, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs, IReadOnlyList<OnnxAttribute> Attributes);

/// <summary>A graph input or output (ValueInfoProto) with a fixed shape; a negative or zero dim is written as a named dim.</summary>
public sealed record OnnxValueInfo(string Name, OnnxDataType Type, long[] Shape);

/// <summary>
/// A minimal ONNX model: one graph in the default domain at one opset. <see cref="ToBytes"/> writes the ModelProto
/// protobuf encoding (onnx.proto field numbers) with Google.Protobuf's <see cref="CodedOutputStream"/>.
/// </summary>
public sealed class OnnxModel
{
    /// <summary>IR version 7 is the one that goes with opset 13.</summary>
    public const long IrVersion = 7;

    public OnnxModel(string graphName, long opset = 13)
    {
        GraphName = graphName;
        Opset = opset;
    }

    public string GraphName { get; }

    public long Opset { get; }

    public string ProducerName { get; init; } = "detektor";

    public string ProducerVersion { get; init; } = "1";

    public List<OnnxNode> Nodes { get; } = [];

    public List<OnnxTensor> Initializers { get; } = [];

    public List<OnnxValueInfo> Inputs { get; } = [];

    public List<OnnxValueInfo> Outputs { get; } = [];

    /// <summary>Free-form key/value metadata (ModelProto.metadata_props), e.g. the source model and its checksum.</summary>
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);

    public OnnxNode AddNode(string opType, string name, string[] inputs, string[] outputs, params OnnxAttribute[] attributes)
    {
        var node = new OnnxNode(opType, name, inputs, outputs, attributes);
        Nodes.Add(node);
        return node;
    }

    public byte[] ToBytes()
    {
        return Message(o =>
        {
            o.WriteTag(1, WireFormat.WireType.Varint);
            o.WriteInt64(IrVersion);
            WriteString(o, 2, ProducerName);
            WriteString(o, 3, ProducerVersion);
            WriteMessage(o, 7, WriteGraph);
            WriteMessage(o, 8, opset =>
            {
                WriteString(opset, 1, string.Empty);
                opset.WriteTag(2, WireFormat.WireType.Varint);
                opset.WriteInt64(Opset);
            });
            foreach (var (key, value) in Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                WriteMessage(o, 14, entry =>
                {
                    WriteString(entry, 1, key);
                    WriteString(entry, 2, value);
                });
            }
        });
    }

    private void WriteGraph(CodedOutputStream o)
    {
        foreach (var node in Nodes)
        {
            WriteMessage(o, 1, n => WriteNode(n, node));
        }

        WriteString(o, 2, GraphName);
        foreach (var tensor in Initializers)
        {
            WriteMessage(o, 5, t => WriteTensor(t, tensor));
        }

        foreach (var input in Inputs)
        {
            WriteMessage(o, 11, v => WriteValueInfo(v, input));
        }

        foreach (var output in Outputs)
        {
            WriteMessage(o, 12, v => WriteValueInfo(v, output));
        }
    }

    private static void WriteNode(CodedOutputStream o, OnnxNode node)
    {
        foreach (var input in node.Inputs)
        {
            WriteString(o, 1, input, always: true);
        }

        foreach (var output in node.Outputs)
        {
            WriteString(o, 2, output, always: true);
        }

        WriteString(o, 3, node.Name);
        WriteString(o, 4, node.OpType);
        foreach (var attribute in node.Attributes)
        {
            WriteMessage(o, 5, a => WriteAttribute(a, attribute));
        }
    }

    private static void WriteAttribute(CodedOutputStream o, OnnxAttribute a)
    {
        // AttributeProto: name=1, f=2, i=3, s=4, t=5, floats=7, ints=8, type=20 (FLOAT=1, INT=2, STRING=3, TENSOR=4, FLOATS=6, INTS=7).
        WriteString(o, 1, a.Name);
        int type;
        if (a.Float is { } f)
        {
            o.WriteTag(2, WireFormat.WireType.Fixed32);
            o.WriteFloat(f);
            type = 1;
        }
        else if (a.Int is { } i)
        {
            o.WriteTag(3, WireFormat.WireType.Varint);
            o.WriteInt64(i);
            type = 2;
        }
        else if (a.Text is { } s)
        {
            WriteString(o, 4, s, always: true);
            type = 3;
        }
        else if (a.Tensor is { } t)
        {
            WriteMessage(o, 5, m => WriteTensor(m, t));
            type = 4;
        }
        else if (a.Floats is { } floats)
        {
            foreach (var value in floats)
            {
                o.WriteTag(7, WireFormat.WireType.Fixed32);
                o.WriteFloat(value);
            }

            type = 6;
        }
        else
        {
            foreach (var value in a.Ints!)
            {
                o.WriteTag(8, WireFormat.WireType.Varint);
                o.WriteInt64(value);
            }

            type = 7;
        }

        o.WriteTag(20, WireFormat.WireType.Varint);
        o.WriteInt32(type);
    }

    private static void WriteTensor(CodedOutputStream o, OnnxTensor t)
    {
        // TensorProto: dims=1, data_type=2, name=8, raw_data=9.
        foreach (var dim in t.Dims)
        {
            o.WriteTag(1, WireFormat.WireType.Varint);
            o.WriteInt64(dim);
        }

        o.WriteTag(2, WireFormat.WireType.Varint);
        o.WriteInt32((int)t.Type);
        WriteString(o, 8, t.Name);
        o.WriteTag(9, WireFormat.WireType.LengthDelimited);
        o.WriteBytes(ByteString.CopyFrom(t.Raw));
    }

    private static void WriteValueInfo(CodedOutputStream o, OnnxValueInfo info)
    {
        // ValueInfoProto: name=1, type=2 -> TypeProto.tensor_type=1 -> {elem_type=1, shape=2 -> dim=1 -> {dim_value=1 | dim_param=2}}.
        WriteString(o, 1, info.Name);
        WriteMessage(o, 2, type => WriteMessage(type, 1, tensor =>
        {
            tensor.WriteTag(1, WireFormat.WireType.Varint);
            tensor.WriteInt32((int)info.Type);
            WriteMessage(tensor, 2, shape =>
            {
                for (var d = 0; d < info.Shape.Length; d++)
                {
                    var value = info.Shape[d];
                    WriteMessage(shape, 1, dim =>
                    {
                        if (value > 0)
                        {
                            dim.WriteTag(1, WireFormat.WireType.Varint);
                            dim.WriteInt64(value);
                        }
                        else
                        {
                            WriteString(dim, 2, string.Create(System.Globalization.CultureInfo.InvariantCulture, $"d{d}"));
                        }
                    });
                }
            });
        }));
    }

    private static void WriteString(CodedOutputStream o, int field, string value, bool always = false)
    {
        if (value.Length == 0 && !always)
        {
            return;
        }

        o.WriteTag(field, WireFormat.WireType.LengthDelimited);
        o.WriteString(value);
    }

    private static void WriteMessage(CodedOutputStream o, int field, Action<CodedOutputStream> body)
    {
        o.WriteTag(field, WireFormat.WireType.LengthDelimited);
        o.WriteBytes(ByteString.CopyFrom(Message(body)));
    }

    private static byte[] Message(Action<CodedOutputStream> body)
    {
        using var buffer = new MemoryStream();
        using (var output = new CodedOutputStream(buffer, leaveOpen: true))
        {
            body(output);
        }

        return buffer.ToArray();
    }
}
