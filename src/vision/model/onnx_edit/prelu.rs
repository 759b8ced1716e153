//! PReLU with a constant slope `a`, rewritten as `a·x + (1−a)·Relu(x)`: a `Relu`, two `Mul`s by
//! a per-channel constant and an `Add`, which give the same values to within a few units in the
//! last place (the sum of the two products rounds where PReLU's one product does not).
//!
//! Why: from ONNX Runtime 1.27 (1.27 to 1.32 measured), its CPU `PRelu` kernel lost its vector
//! code. One 64x56x56 tensor, one thread, takes 0.91 ms against 0.05 ms on 1.26, and SFace, the
//! anti-spoofing pair and w600k_mbf put a PReLU after nearly every convolution. The rewritten ops
//! are ones ONNX Runtime's blocked-layout (NCHWc) pass keeps in its layout: each `Mul` becomes a
//! 1x1 depthwise convolution and the `Add` is fused into one. So the conversions out of the
//! blocked layout and back that each PReLU cost disappear too. On 1.31.1, one face: SFace 11.8 to
//! 9.4 ms, w600k_mbf 11.3 to 7.8, each MiniFASNet 2.1 to 1.9 (docs/speed.md). On 1.24 and older,
//! whose PReLU is fast, the rewrite is slower (SFace 9.6 to 12.1), so the loader asks for it only
//! where the kernel is the slow one ([`crate::vision::model::Runtime::rewrites_prelu`]).

use std::collections::{HashMap, HashSet};

use super::{
    FIXED32, Field, GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_NODE, LENGTH_DELIMITED, NODE_INPUT, NODE_OP_TYPE,
    NODE_OUTPUT, TENSOR_DATA_LOCATION, TENSOR_DATA_TYPE, TENSOR_NAME, TENSOR_RAW_DATA, VALUE_INFO_NAME, VARINT, fields,
    graph_of, payloads, put_length_delimited, put_varint, string_field, string_fields, varint, with_graph,
};

/// `ModelProto.opset_import`.
const MODEL_OPSET_IMPORT: u64 = 8;
/// `OperatorSetIdProto.domain`.
const OPSET_DOMAIN: u64 = 1;
/// `OperatorSetIdProto.version`.
const OPSET_VERSION: u64 = 2;
/// `NodeProto.name`.
const NODE_NAME: u64 = 3;
/// `NodeProto.domain`.
const NODE_DOMAIN: u64 = 7;
/// `TensorProto.dims`.
const TENSOR_DIMS: u64 = 1;
/// `TensorProto.float_data`.
const TENSOR_FLOAT_DATA: u64 = 4;
/// `TensorProto.DataType.FLOAT`.
const FLOAT: u64 = 1;
/// The first opset whose `Mul` and `Add` broadcast a per-channel constant the way `PRelu` does.
const BROADCASTING_OPSET: u64 = 7;

/// A float weight stored in the file: its dimensions and values.
#[derive(Debug, PartialEq)]
struct FloatWeight {
    dims: Vec<u64>,
    values: Vec<f32>,
}

fn f32_of(bytes: &[u8]) -> Option<f32> {
    Some(f32::from_le_bytes(bytes.try_into().ok()?))
}

/// The values of a float tensor held in the file (as `raw_data` or `float_data`, packed or not),
/// or `None` for any other kind, or one whose count does not match its dimensions.
fn float_weight(tensor: &[u8]) -> Option<FloatWeight> {
    let fs = fields(tensor)?;
    let is = |f: &Field, number: u64, value: u64| f.number == number && f.wire == VARINT && f.value == value;
    if !fs.iter().any(|f| is(f, TENSOR_DATA_TYPE, FLOAT)) || fs.iter().any(|f| is(f, TENSOR_DATA_LOCATION, 1)) {
        return None;
    }
    let (mut dims, mut values, mut raw) = (Vec::new(), Vec::new(), None);
    for f in &fs {
        match (f.number, f.wire) {
            (TENSOR_DIMS, VARINT) => dims.push(f.value),
            (TENSOR_DIMS, LENGTH_DELIMITED) => {
                let mut at = 0;
                while at < f.payload.len() {
                    dims.push(varint(f.payload, &mut at)?);
                }
            }
            (TENSOR_FLOAT_DATA, LENGTH_DELIMITED) => {
                if f.payload.len() % 4 != 0 {
                    return None;
                }
                for chunk in f.payload.chunks_exact(4) {
                    values.push(f32_of(chunk)?);
                }
            }
            (TENSOR_FLOAT_DATA, FIXED32) => values.push(f32_of(f.encoded.get(f.encoded.len().checked_sub(4)?..)?)?),
            // Several: a reader takes the last, and which this edit would read is a guess.
            (TENSOR_RAW_DATA, LENGTH_DELIMITED) if raw.replace(f.payload).is_some() => return None,
            _ => {}
        }
    }
    if let Some(raw) = raw {
        if !values.is_empty() || raw.len() % 4 != 0 {
            return None;
        }
        for chunk in raw.chunks_exact(4) {
            values.push(f32_of(chunk)?);
        }
    }
    let count = dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d))?;
    (!values.is_empty() && count == values.len() as u64).then_some(FloatWeight { dims, values })
}

/// An encoded float tensor named `name`, its values as `raw_data`.
fn float_tensor(name: &[u8], weight: &FloatWeight) -> Vec<u8> {
    let mut out = Vec::new();
    for &d in &weight.dims {
        put_varint(TENSOR_DIMS << 3, &mut out);
        put_varint(d, &mut out);
    }
    put_varint(TENSOR_DATA_TYPE << 3, &mut out);
    put_varint(FLOAT, &mut out);
    put_length_delimited(TENSOR_NAME, name, &mut out);
    let raw: Vec<u8> = weight.values.iter().flat_map(|v| v.to_le_bytes()).collect();
    put_length_delimited(TENSOR_RAW_DATA, &raw, &mut out);
    out
}

/// An encoded node of the default domain.
fn node(op: &str, inputs: &[&[u8]], output: &[u8], name: Option<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for input in inputs {
        put_length_delimited(NODE_INPUT, input, &mut out);
    }
    put_length_delimited(NODE_OUTPUT, output, &mut out);
    if let Some(name) = name {
        put_length_delimited(NODE_NAME, &name, &mut out);
    }
    put_length_delimited(NODE_OP_TYPE, op.as_bytes(), &mut out);
    out
}

fn suffixed(name: &[u8], suffix: &str) -> Vec<u8> {
    [name, suffix.as_bytes()].concat()
}

/// The version of the default operator set the model imports.
fn default_opset(top: &[Field<'_>]) -> Option<u64> {
    top.iter()
        .filter(|f| f.number == MODEL_OPSET_IMPORT && f.wire == LENGTH_DELIMITED)
        .find(|f| string_field(f.payload, OPSET_DOMAIN).is_none_or(|d| d.is_empty() || d == b"ai.onnx"))
        .and_then(|f| {
            fields(f.payload)?
                .iter()
                .find(|v| v.number == OPSET_VERSION && v.wire == VARINT)
                .map(|v| v.value)
        })
}

/// `model` with each `PRelu` whose slope is a float weight of the file rewritten as
/// `a·x + (1−a)·Relu(x)`, in place, and the `1−a` weights added. `None` when there is no such
/// `PRelu`, or the file is not one this edit understands: load it as it is. A `PRelu` whose new
/// names would clash with the graph's own is left as it is.
pub fn prelu_as_relu_and_scales(model: &[u8]) -> Option<Vec<u8>> {
    if default_opset(&fields(model)?)? < BROADCASTING_OPSET {
        return None;
    }
    let (graph, graph_fields) = graph_of(model)?;
    let of = |number: u64| payloads(&graph_fields, number);
    let inputs: HashSet<&[u8]> = of(GRAPH_INPUT)
        .filter_map(|v| string_field(v, VALUE_INFO_NAME))
        .collect();
    let all_weights: Vec<(&[u8], &[u8])> = of(GRAPH_INITIALIZER)
        .filter_map(|t| Some((string_field(t, TENSOR_NAME)?, t)))
        .collect();
    // A weight also listed as an input is one a caller may replace: not a constant to rewrite with.
    let weights: HashMap<&[u8], &[u8]> = all_weights
        .iter()
        .copied()
        .filter(|(n, _)| !inputs.contains(n))
        .collect();
    // Every name in use, so that the new ones cannot clash with any.
    let mut taken: HashSet<Vec<u8>> = inputs
        .iter()
        .chain(all_weights.iter().map(|(n, _)| n))
        .map(|n| n.to_vec())
        .collect();
    for n in of(GRAPH_NODE) {
        taken.extend(string_fields(n, NODE_OUTPUT).into_iter().map(<[u8]>::to_vec));
        taken.extend(string_field(n, NODE_NAME).map(<[u8]>::to_vec));
    }
    let mut claim = |name: Vec<u8>| taken.insert(name.clone()).then_some(name);

    let mut out = Vec::with_capacity(graph.len());
    let mut complements: HashMap<&[u8], Vec<u8>> = HashMap::new();
    let mut added_weights = Vec::new();
    let mut rewritten = 0;
    for f in &graph_fields {
        let rewrite = (f.number == GRAPH_NODE && f.wire == LENGTH_DELIMITED)
            .then(|| {
                let n = f.payload;
                let default_domain = string_field(n, NODE_DOMAIN).is_none_or(|d| d.is_empty() || d == b"ai.onnx");
                let (ins, outs) = (string_fields(n, NODE_INPUT), string_fields(n, NODE_OUTPUT));
                if string_field(n, NODE_OP_TYPE) != Some(b"PRelu")
                    || !default_domain
                    || ins.len() != 2
                    || outs.len() != 1
                {
                    return None;
                }
                let (x, slope, y) = (ins[0], ins[1], outs[0]);
                let (relu, kept, scaled) = (
                    claim(suffixed(y, "::prelu_relu"))?,
                    claim(suffixed(y, "::prelu_relu_share"))?,
                    claim(suffixed(y, "::prelu_linear_share"))?,
                );
                let complement = match complements.get(slope) {
                    Some(name) => name.clone(),
                    None => {
                        let a = float_weight(weights.get(slope)?)?;
                        let name = claim(suffixed(slope, "::one_minus"))?;
                        let one_minus = FloatWeight {
                            dims: a.dims,
                            values: a.values.iter().map(|v| 1.0 - v).collect(),
                        };
                        added_weights.push(float_tensor(&name, &one_minus));
                        complements.insert(slope, name.clone());
                        name
                    }
                };
                let mut name = |suffix: &str| string_field(n, NODE_NAME).and_then(|n| claim(suffixed(n, suffix)));
                Some([
                    node("Relu", &[x], &relu, name("::relu")),
                    node("Mul", &[&relu, &complement], &kept, name("::relu_share")),
                    node("Mul", &[x, slope], &scaled, name("::linear_share")),
                    node("Add", &[&scaled, &kept], y, name("::sum")),
                ])
            })
            .flatten();
        match rewrite {
            Some(nodes) => {
                rewritten += 1;
                for n in nodes {
                    put_length_delimited(GRAPH_NODE, &n, &mut out);
                }
            }
            None => out.extend_from_slice(f.encoded),
        }
    }
    if rewritten == 0 {
        return None;
    }
    for w in added_weights {
        put_length_delimited(GRAPH_INITIALIZER, &w, &mut out);
    }
    with_graph(model, &out)
}

#[cfg(test)]
mod tests {
    use super::super::MODEL_GRAPH;
    use super::super::tests::{field, input, node as graph_node, varint_field};
    use super::*;

    fn opset(version: u64) -> Vec<u8> {
        field(MODEL_OPSET_IMPORT, &varint_field(OPSET_VERSION, version))
    }

    /// A model of IR version 6 importing the default opset `version`.
    fn with_opset(graph: &[Vec<u8>], version: u64) -> Vec<u8> {
        [varint_field(1, 6), field(MODEL_GRAPH, &graph.concat()), opset(version)].concat()
    }

    fn slope(name: &str, values: &[f32]) -> Vec<u8> {
        let w = FloatWeight {
            dims: vec![values.len() as u64, 1, 1],
            values: values.to_vec(),
        };
        field(GRAPH_INITIALIZER, &float_tensor(name.as_bytes(), &w))
    }

    /// The nodes of an encoded model's graph, as (op, inputs, output).
    fn nodes(model: &[u8]) -> Vec<(String, Vec<String>, String)> {
        let (_, graph_fields) = graph_of(model).unwrap();
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        payloads(&graph_fields, GRAPH_NODE)
            .map(|n| {
                (
                    text(string_field(n, NODE_OP_TYPE).unwrap()),
                    string_fields(n, NODE_INPUT).into_iter().map(text).collect(),
                    text(string_fields(n, NODE_OUTPUT)[0]),
                )
            })
            .collect()
    }

    /// The float weight named `name` in an encoded model.
    fn weight(model: &[u8], name: &str) -> Option<FloatWeight> {
        let (_, graph_fields) = graph_of(model).unwrap();
        payloads(&graph_fields, GRAPH_INITIALIZER)
            .find(|t| string_field(t, TENSOR_NAME) == Some(name.as_bytes()))
            .and_then(float_weight)
    }

    fn two_prelus() -> Vec<Vec<u8>> {
        vec![
            graph_node("Conv", &["x", "w"], "c", None),
            graph_node("PRelu", &["c", "a"], "p", None),
            graph_node("PRelu", &["p", "a"], "y", None),
            slope("a", &[0.25, -0.5, 1.5]),
            input("x"),
        ]
    }

    #[test]
    fn each_prelu_with_a_weight_slope_becomes_relu_two_scales_and_a_sum() {
        let edited = prelu_as_relu_and_scales(&with_opset(&two_prelus(), 11)).unwrap();
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let expected = [
            ("Conv", s(&["x", "w"]), "c"),
            ("Relu", s(&["c"]), "p::prelu_relu"),
            ("Mul", s(&["p::prelu_relu", "a::one_minus"]), "p::prelu_relu_share"),
            ("Mul", s(&["c", "a"]), "p::prelu_linear_share"),
            ("Add", s(&["p::prelu_linear_share", "p::prelu_relu_share"]), "p"),
            ("Relu", s(&["p"]), "y::prelu_relu"),
            ("Mul", s(&["y::prelu_relu", "a::one_minus"]), "y::prelu_relu_share"),
            ("Mul", s(&["p", "a"]), "y::prelu_linear_share"),
            ("Add", s(&["y::prelu_linear_share", "y::prelu_relu_share"]), "y"),
        ]
        .map(|(op, ins, out)| (op.to_string(), ins, out.to_string()));
        assert_eq!(nodes(&edited), expected);
        // One complement for the shared slope, and the slope itself untouched.
        let complement = weight(&edited, "a::one_minus").unwrap();
        assert_eq!(complement.dims, [3, 1, 1]);
        assert_eq!(complement.values, [0.75, 1.5, -0.5]);
        assert_eq!(weight(&edited, "a").unwrap().values, [0.25, -0.5, 1.5]);
        assert_eq!(prelu_as_relu_and_scales(&edited), None, "no PRelu left");
    }

    #[test]
    fn the_rewrite_gives_prelus_values() {
        // What the four nodes compute, for slopes either side of 0 and 1.
        for a in [0.25f32, -0.5, 1.5, 0.0, 1.0] {
            for x in [-3.0f32, -0.1, 0.0, 0.1, 2.0] {
                let prelu = if x > 0.0 { x } else { a * x };
                let rewritten = a * x + (1.0 - a) * x.max(0.0);
                assert!((prelu - rewritten).abs() <= 1e-6 * (1.0 + x.abs()), "a {a}, x {x}");
            }
        }
    }

    #[test]
    fn slopes_in_float_data_packed_or_not_are_read() {
        let packed: Vec<u8> = [0.5f32, -1.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let tensor = [
            varint_field(TENSOR_DIMS, 2),
            varint_field(TENSOR_DATA_TYPE, FLOAT),
            field(TENSOR_FLOAT_DATA, &packed),
        ]
        .concat();
        assert_eq!(
            float_weight(&tensor),
            Some(FloatWeight {
                dims: vec![2],
                values: vec![0.5, -1.0]
            })
        );
        let mut unpacked = [varint_field(TENSOR_DIMS, 1), varint_field(TENSOR_DATA_TYPE, FLOAT)].concat();
        put_varint((TENSOR_FLOAT_DATA << 3) | u64::from(FIXED32), &mut unpacked);
        unpacked.extend(0.25f32.to_le_bytes());
        assert_eq!(float_weight(&unpacked).map(|w| w.values), Some(vec![0.25]));
        // Three values for dimensions of 2, and a weight stored in another file.
        let wrong_count = [
            varint_field(TENSOR_DIMS, 3),
            varint_field(TENSOR_DATA_TYPE, FLOAT),
            field(TENSOR_FLOAT_DATA, &packed),
        ]
        .concat();
        assert_eq!(float_weight(&wrong_count), None);
        let external = [tensor.clone(), varint_field(TENSOR_DATA_LOCATION, 1)].concat();
        assert_eq!(float_weight(&external), None);
    }

    #[test]
    fn leaves_alone_what_it_cannot_rewrite_exactly() {
        // A slope computed at run time, or one a caller may feed (listed as an input).
        let computed = [
            graph_node("Conv", &["x", "w"], "c", None),
            graph_node("PRelu", &["c", "s"], "y", None),
            input("x"),
        ];
        assert_eq!(prelu_as_relu_and_scales(&with_opset(&computed, 11)), None);
        let fed = [two_prelus(), vec![input("a")]].concat();
        assert_eq!(prelu_as_relu_and_scales(&with_opset(&fed, 11)), None);
        // Before opset 7, Mul and Add do not broadcast the slope.
        assert_eq!(prelu_as_relu_and_scales(&with_opset(&two_prelus(), 6)), None);
        // A name the first rewrite needs is taken: that PRelu stays, the other is rewritten.
        let clash = [
            two_prelus(),
            vec![graph_node("Identity", &["x"], "p::prelu_relu", None)],
        ]
        .concat();
        let ops: Vec<String> = nodes(&prelu_as_relu_and_scales(&with_opset(&clash, 11)).unwrap())
            .into_iter()
            .map(|(op, _, _)| op)
            .collect();
        assert_eq!(ops, ["Conv", "PRelu", "Relu", "Mul", "Mul", "Add", "Identity"]);
        assert_eq!(prelu_as_relu_and_scales(b"not a model \xff\xff"), None);
        assert_eq!(prelu_as_relu_and_scales(&[]), None);
    }
}
