using System.Globalization;

namespace Detektor.Detection.Conversion;

/// <summary>
/// Converts the sub-graph of a TF.js graph model that computes <c>outputs</c> into an ONNX model (opset 13).
/// <para>
/// Layout: TensorFlow computes in NHWC, ONNX convolutions in NCHW. The converter keeps the model's interface as it is
/// (NHWC input and outputs, same names) and converts the inside to NCHW: one Transpose after the input, one before each
/// output; weights are re-laid out once (HWIO to OIHW, depthwise HWC1 to C1HW), reduction and concat axes are mapped.
/// Shapes are inferred while converting, so TensorFlow's <c>SAME</c> padding becomes exact explicit pads (the extra
/// pixel at the end, as TensorFlow does it) and Resize gets explicit sizes.
/// </para>
/// Supported ops: Placeholder, Const, Identity, Conv2D, DepthwiseConv2dNative, _FusedConv2D and
/// FusedDepthwiseConv2dNative (BiasAdd, optionally Relu or Relu6), Add/AddV2, Sub, Mul, Relu, Relu6, Sigmoid, Mean
/// (keep_dims), ConcatV2, ResizeBilinear. Anything else fails with the op and node named.
/// </summary>
public sealed class TfjsToOnnxConverter
{
    private static readonly int[] NhwcToNchwAxis = [0, 2, 3, 1];

    private readonly TfjsGraphModel _model;
    private readonly OnnxModel _onnx;
    private readonly Dictionary<string, Value> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _initializers = new(StringComparer.Ordinal);

    private TfjsToOnnxConverter(TfjsGraphModel model, string graphName)
    {
        _model = model;
        _onnx = new OnnxModel(graphName);
    }

    /// <summary>An activation: its ONNX (NCHW) value name and its TensorFlow (NHWC) shape.</summary>
    private readonly record struct Value(string Name, int[] Nhwc);

    /// <summary>Converts the nodes needed for <paramref name="outputs"/>; the ONNX outputs keep their TF names and NHWC layout.</summary>
    public static OnnxModel Convert(TfjsGraphModel model, IReadOnlyList<string> outputs, string graphName = "converted")
    {
        ArgumentNullException.ThrowIfNull(model);
        if (outputs.Count == 0)
        {
            throw new ArgumentException("Name at least one output.", nameof(outputs));
        }

        var converter = new TfjsToOnnxConverter(model, graphName);
        foreach (var node in converter.Order(outputs))
        {
            converter.ConvertNode(node);
        }

        foreach (var output in outputs)
        {
            var value = converter.Activation(output);
            converter._onnx.AddNode("Transpose", output + "/to_nhwc", [value.Name], [output], OnnxAttribute.Of("perm", 0, 2, 3, 1));
            converter._onnx.Outputs.Add(new OnnxValueInfo(output, OnnxDataType.F32, [.. value.Nhwc.Select(d => (long)d)]));
        }

        return converter._onnx;
    }

    /// <summary>The nodes the outputs depend on, inputs before their users.</summary>
    private List<TfjsNode> Order(IReadOnlyList<string> outputs)
    {
        var ordered = new List<TfjsNode>();
        var state = new Dictionary<string, bool>(StringComparer.Ordinal); // false: visiting, true: done
        var stack = new Stack<(TfjsNode Node, int Next)>();
        foreach (var output in outputs)
        {
            stack.Push((Node(output), 0));
            while (stack.Count > 0)
            {
                var (node, next) = stack.Pop();
                if (next == 0)
                {
                    if (state.TryGetValue(node.Name, out var done))
                    {
                        if (!done)
                        {
                            throw new InvalidDataException($"The graph has a cycle through '{node.Name}'.");
                        }

                        continue;
                    }

                    state[node.Name] = false;
                }

                if (next < node.Inputs.Count)
                {
                    stack.Push((node, next + 1));
                    var input = Node(node.Inputs[next]);
                    if (!state.TryGetValue(input.Name, out var inputDone) || !inputDone)
                    {
                        stack.Push((input, 0));
                    }

                    continue;
                }

                state[node.Name] = true;
                ordered.Add(node);
            }
        }

        return ordered;
    }

    private TfjsNode Node(string name)
    {
        if (name.Contains(':', StringComparison.Ordinal))
        {
            throw new NotSupportedException($"Input '{name}' uses a second output of a node; the converter supports single-output ops only.");
        }

        return _model.NodesByName.TryGetValue(name, out var node)
            ? node
            : throw new InvalidDataException($"The graph has no node named '{name}'.");
    }

    private void ConvertNode(TfjsNode node)
    {
        switch (node.Op)
        {
            case "Const":
                if (!_model.Weights.ContainsKey(node.Name))
                {
                    throw new InvalidDataException($"Const '{node.Name}' has no weight in the manifest.");
                }

                break;
            case "Placeholder":
                Placeholder(node);
                break;
            case "Identity":
                _values[node.Name] = Activation(node.Inputs[0]);
                break;
            case "Conv2D":
            case "_FusedConv2D":
                Convolution(node, depthwise: false);
                break;
            case "DepthwiseConv2dNative":
            case "FusedDepthwiseConv2dNative":
                Convolution(node, depthwise: true);
                break;
            case "Add":
            case "AddV2":
                Binary(node, "Add");
                break;
            case "Sub":
                Binary(node, "Sub");
                break;
            case "Mul":
                Binary(node, "Mul");
                break;
            case "Relu":
                Unary(node, "Relu");
                break;
            case "Sigmoid":
                Unary(node, "Sigmoid");
                break;
            case "Relu6":
                var input = Activation(node.Inputs[0]);
                _values[node.Name] = new Value(Relu6(input.Name, node.Name), input.Nhwc);
                break;
            case "Mean":
                Mean(node);
                break;
            case "ConcatV2":
                Concat(node);
                break;
            case "ResizeBilinear":
                ResizeBilinear(node);
                break;
            default:
                throw new NotSupportedException($"Op '{node.Op}' (node '{node.Name}') is not supported by the TF.js-to-ONNX converter.");
        }
    }

    private void Placeholder(TfjsNode node)
    {
        if (!node.TryGetAttribute("shape", out var shapeAttr) || !shapeAttr.TryGetProperty("shape", out var shape) || !shape.TryGetProperty("dim", out var dims))
        {
            throw new InvalidDataException($"Input '{node.Name}' has no shape.");
        }

        var nhwc = dims.EnumerateArray()
            .Select(d => int.Parse(d.GetProperty("size").GetString()!, CultureInfo.InvariantCulture))
            .ToArray();
        if (nhwc.Length != 4 || nhwc.Skip(1).Any(d => d <= 0))
        {
            throw new NotSupportedException($"Input '{node.Name}' must be NHWC with fixed height, width and channels; it is [{string.Join(',', nhwc)}].");
        }

        nhwc[0] = 1;
        _onnx.Inputs.Add(new OnnxValueInfo(node.Name, OnnxDataType.F32, [.. nhwc.Select(d => (long)d)]));
        var nchw = Internal(node.Name);
        _onnx.AddNode("Transpose", node.Name + "/to_nchw", [node.Name], [nchw], OnnxAttribute.Of("perm", 0, 3, 1, 2));
        _values[node.Name] = new Value(nchw, nhwc);
    }

    private Value Activation(string name)
    {
        if (_values.TryGetValue(name, out var value))
        {
            return value;
        }

        throw _model.Weights.ContainsKey(name)
            ? new NotSupportedException($"'{name}' is a constant where the converter expects an activation.")
            : new InvalidDataException($"'{name}' is used before it is computed.");
    }

    private TfjsWeight Weight(string name, TfjsNode user) =>
        _model.Weights.TryGetValue(name, out var weight)
            ? weight
            : throw new NotSupportedException($"Node '{user.Name}' ({user.Op}) needs '{name}' to be a constant.");

    private void Convolution(TfjsNode node, bool depthwise)
    {
        if (node.StringAttribute("data_format") is { } format && format != "NHWC")
        {
            throw new NotSupportedException($"Node '{node.Name}': data_format {format} is not supported (NHWC only).");
        }

        var input = Activation(node.Inputs[0]);
        var filter = Weight(node.Inputs[1], node);
        if (filter.Floats is null || filter.Shape.Length != 4)
        {
            throw new InvalidDataException($"Node '{node.Name}': the filter must be a float tensor of rank 4.");
        }

        var (kh, kw, ci, co) = (filter.Shape[0], filter.Shape[1], filter.Shape[2], filter.Shape[3]);
        var channels = input.Nhwc[3];
        if (ci != channels)
        {
            throw new InvalidDataException($"Node '{node.Name}': the filter expects {ci} input channels, the input has {channels}.");
        }

        var strides = node.IntListAttribute("strides");
        var dilations = node.IntListAttribute("dilations");
        var sh = strides.Length == 4 ? (int)strides[1] : 1;
        var sw = strides.Length == 4 ? (int)strides[2] : 1;
        var dh = dilations.Length == 4 ? (int)dilations[1] : 1;
        var dw = dilations.Length == 4 ? (int)dilations[2] : 1;
        var (outH, padTop, padBottom) = Pad(node, input.Nhwc[1], kh, sh, dh, 0);
        var (outW, padLeft, padRight) = Pad(node, input.Nhwc[2], kw, sw, dw, 1);

        // HWIO -> OIHW for convolutions; H W C M -> (C*M) 1 H W for depthwise (group = C).
        var outChannels = depthwise ? ci * co : co;
        var weights = new float[filter.Floats.Length];
        for (var y = 0; y < kh; y++)
        {
            for (var x = 0; x < kw; x++)
            {
                for (var i = 0; i < ci; i++)
                {
                    for (var o = 0; o < co; o++)
                    {
                        var src = (((((y * kw) + x) * ci) + i) * co) + o;
                        var dst = depthwise
                            ? ((((i * co) + o) * kh) + y) * kw + x
                            : ((((o * ci) + i) * kh) + y) * kw + x;
                        weights[dst] = filter.Floats[src];
                    }
                }
            }
        }

        var weightName = Initializer(filter.Name + "/onnx", depthwise ? [outChannels, 1, kh, kw] : [co, ci, kh, kw], weights);
        var inputs = new List<string> { input.Name, weightName };
        var fused = node.StringListAttribute("fused_ops");
        var activation = (string?)null;
        if (node.Op.StartsWith("Fused", StringComparison.Ordinal) || node.Op.StartsWith("_Fused", StringComparison.Ordinal))
        {
            if (fused.Length == 0 || fused[0] != "BiasAdd" || fused.Length > 2 || node.IntAttribute("num_args") is not (null or 1))
            {
                throw new NotSupportedException($"Node '{node.Name}': fused ops [{string.Join(", ", fused)}] are not supported (BiasAdd, then optionally Relu or Relu6).");
            }

            var bias = Weight(node.Inputs[2], node);
            if (bias.Floats is null || bias.Floats.Length != outChannels)
            {
                throw new InvalidDataException($"Node '{node.Name}': the bias must hold {outChannels} floats.");
            }

            inputs.Add(Initializer(bias.Name, [outChannels], bias.Floats));
            activation = fused.Length == 2 ? fused[1] : null;
            if (activation is not (null or "Relu" or "Relu6"))
            {
                throw new NotSupportedException($"Node '{node.Name}': fused activation {activation} is not supported (Relu, Relu6).");
            }
        }

        var convOut = activation is null ? Internal(node.Name) : node.Name + "#conv";
        _onnx.AddNode("Conv", node.Name, [.. inputs], [convOut],
            OnnxAttribute.Of("kernel_shape", kh, kw),
            OnnxAttribute.Of("strides", sh, sw),
            OnnxAttribute.Of("dilations", dh, dw),
            OnnxAttribute.Of("pads", padTop, padLeft, padBottom, padRight),
            OnnxAttribute.Of("group", depthwise ? (long)ci : 1L));
        var result = activation switch
        {
            "Relu" => Emit("Relu", node.Name + "/relu", [convOut], Internal(node.Name)),
            "Relu6" => Relu6(convOut, node.Name),
            _ => convOut,
        };
        _values[node.Name] = new Value(result, [input.Nhwc[0], outH, outW, outChannels]);
    }

    /// <summary>Output size and padding of one spatial dimension, as TensorFlow computes them.</summary>
    private static (int Out, long Before, long After) Pad(TfjsNode node, int size, int kernel, int stride, int dilation, int axis)
    {
        var effective = ((kernel - 1) * dilation) + 1;
        switch (node.StringAttribute("padding"))
        {
            case "SAME":
                var outSame = (size + stride - 1) / stride;
                var total = Math.Max(((outSame - 1) * stride) + effective - size, 0);
                return (outSame, total / 2, total - (total / 2));
            case "VALID":
                return ((size - effective + stride) / stride, 0, 0);
            case "EXPLICIT":
                var explicitPads = node.IntListAttribute("explicit_paddings");
                var before = explicitPads[2 + (axis * 2)];
                var after = explicitPads[3 + (axis * 2)];
                return ((int)((size + before + after - effective) / stride) + 1, before, after);
            case var other:
                throw new NotSupportedException($"Node '{node.Name}': padding '{other}' is not supported.");
        }
    }

    private void Binary(TfjsNode node, string op)
    {
        if (node.Inputs.Count != 2)
        {
            throw new InvalidDataException($"Node '{node.Name}' ({node.Op}) must have two inputs.");
        }

        var names = new string[2];
        int[]? shape = null;
        for (var k = 0; k < 2; k++)
        {
            if (_values.TryGetValue(node.Inputs[k], out var value))
            {
                names[k] = value.Name;
                shape = shape is null ? value.Nhwc : Broadcast(node, shape, value.Nhwc);
            }
            else
            {
                names[k] = BroadcastConstant(Weight(node.Inputs[k], node), node);
            }
        }

        if (shape is null)
        {
            throw new NotSupportedException($"Node '{node.Name}': both inputs are constants (constant folding is not supported).");
        }

        _values[node.Name] = new Value(Emit(op, node.Name, names, Internal(node.Name)), shape);
    }

    private static int[] Broadcast(TfjsNode node, int[] a, int[] b)
    {
        var result = new int[4];
        for (var i = 0; i < 4; i++)
        {
            result[i] = a[i] == b[i] || b[i] == 1 ? a[i] : a[i] == 1 ? b[i] : throw new InvalidDataException($"Node '{node.Name}': shapes [{string.Join(',', a)}] and [{string.Join(',', b)}] do not broadcast.");
        }

        return result;
    }

    /// <summary>A constant operand of an element-wise op, laid out so it broadcasts against NCHW as it did against NHWC.</summary>
    private string BroadcastConstant(TfjsWeight weight, TfjsNode user)
    {
        var floats = weight.Floats ?? throw new NotSupportedException($"Node '{user.Name}': integer operand '{weight.Name}' is not supported.");
        switch (weight.Shape.Length)
        {
            case 0:
                return Initializer(weight.Name, [], floats);
            case 1:
                return Initializer(weight.Name + "/c11", [weight.Shape[0], 1, 1], floats);
            case 4:
                var (n, h, w, c) = (weight.Shape[0], weight.Shape[1], weight.Shape[2], weight.Shape[3]);
                var nchw = new float[floats.Length];
                for (var b = 0; b < n; b++)
                {
                    for (var y = 0; y < h; y++)
                    {
                        for (var x = 0; x < w; x++)
                        {
                            for (var ch = 0; ch < c; ch++)
                            {
                                nchw[(((((b * c) + ch) * h) + y) * w) + x] = floats[(((((b * h) + y) * w) + x) * c) + ch];
                            }
                        }
                    }
                }

                return Initializer(weight.Name + "/nchw", [n, c, h, w], nchw);
            default:
                throw new NotSupportedException($"Node '{user.Name}': constant '{weight.Name}' of rank {weight.Shape.Length} is not supported.");
        }
    }

    private void Unary(TfjsNode node, string op)
    {
        var input = Activation(node.Inputs[0]);
        _values[node.Name] = new Value(Emit(op, node.Name, [input.Name], Internal(node.Name)), input.Nhwc);
    }

    private string Relu6(string input, string name)
    {
        var zero = Initializer("detektor/zero", [], [0f]);
        var six = Initializer("detektor/six", [], [6f]);
        return Emit("Clip", name + "/relu6", [input, zero, six], name + "#relu6");
    }

    private void Mean(TfjsNode node)
    {
        var input = Activation(node.Inputs[0]);
        var axes = Weight(node.Inputs[1], node).Ints ?? throw new InvalidDataException($"Node '{node.Name}': reduction indices must be int32.");
        if (!node.BoolAttribute("keep_dims"))
        {
            throw new NotSupportedException($"Node '{node.Name}': Mean without keep_dims is not supported.");
        }

        var shape = (int[])input.Nhwc.Clone();
        var onnxAxes = new long[axes.Length];
        for (var i = 0; i < axes.Length; i++)
        {
            var axis = axes[i] < 0 ? axes[i] + 4 : axes[i];
            shape[axis] = 1;
            onnxAxes[i] = NhwcToNchwAxis[axis];
        }

        Array.Sort(onnxAxes);
        var output = _onnx.AddNode("ReduceMean", node.Name, [input.Name], [Internal(node.Name)], OnnxAttribute.Of("axes", onnxAxes), OnnxAttribute.Of("keepdims", 1L)).Outputs[0];
        _values[node.Name] = new Value(output, shape);
    }

    private void Concat(TfjsNode node)
    {
        var axisWeight = Weight(node.Inputs[^1], node).Ints ?? throw new InvalidDataException($"Node '{node.Name}': the axis must be int32.");
        var axis = axisWeight[0] < 0 ? axisWeight[0] + 4 : axisWeight[0];
        var parts = node.Inputs.Take(node.Inputs.Count - 1).Select(Activation).ToArray();
        var shape = (int[])parts[0].Nhwc.Clone();
        shape[axis] = parts.Sum(p => p.Nhwc[axis]);
        _onnx.AddNode("Concat", node.Name, [.. parts.Select(p => p.Name)], [Internal(node.Name)], OnnxAttribute.Of("axis", (long)NhwcToNchwAxis[axis]));
        _values[node.Name] = new Value(Internal(node.Name), shape);
    }

    private void ResizeBilinear(TfjsNode node)
    {
        var input = Activation(node.Inputs[0]);
        var size = Weight(node.Inputs[1], node).Ints ?? throw new InvalidDataException($"Node '{node.Name}': the size must be int32.");
        var alignCorners = node.BoolAttribute("align_corners");
        var halfPixel = node.BoolAttribute("half_pixel_centers");
        var mode = alignCorners ? "align_corners" : halfPixel ? "half_pixel" : "asymmetric";
        var sizes = Int64Initializer(node.Name + "/sizes", [input.Nhwc[0], input.Nhwc[3], size[0], size[1]]);
        _onnx.AddNode("Resize", node.Name, [input.Name, string.Empty, string.Empty, sizes], [Internal(node.Name)],
            OnnxAttribute.Of("mode", "linear"),
            OnnxAttribute.Of("coordinate_transformation_mode", mode));
        _values[node.Name] = new Value(Internal(node.Name), [input.Nhwc[0], size[0], size[1], input.Nhwc[3]]);
    }

    /// <summary>The ONNX name of a TF node's NCHW value; the TF name itself stays free for the NHWC graph outputs.</summary>
    private static string Internal(string tfName) => tfName + "#nchw";

    private string Emit(string op, string name, string[] inputs, string output)
    {
        _onnx.AddNode(op, name, inputs, [output]);
        return output;
    }

    private string Initializer(string name, long[] dims, float[] values)
    {
        if (_initializers.Add(name))
        {
            _onnx.Initializers.Add(OnnxTensor.FromFloats(name, dims, values));
        }

        return name;
    }

    private string Int64Initializer(string name, long[] values)
    {
        if (_initializers.Add(name))
        {
            _onnx.Initializers.Add(OnnxTensor.FromInt64s(name, [values.Length], values));
        }

        return name;
    }
}
