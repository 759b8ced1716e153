//! In-memory edits of an ONNX file's protobuf encoding, made before ONNX Runtime loads it: weights
//! listed as graph inputs dropped from the inputs so that they fold as constants, a batch
//! dimension fixed at 1 made free so that every face of a frame goes in one run, and PReLU
//! rewritten as ops that ONNX Runtime 1.27 and newer run fast ([`prelu`]).
//!
//! An ONNX file may name an initializer (a weight) among the graph's inputs too, as older
//! exporters did. ONNX Runtime must then treat the weight as something a caller could replace
//! at run time, so it folds nothing that depends on it: SFace (2021dec) lists all 174 of its
//! weights that way, and every batch normalisation stays a separate pass instead of being folded
//! into its convolution. rollcall never feeds a weight, so it drops those entries from the
//! inputs (the weights themselves are untouched) and SFace runs about 1.15 to 1.25x faster for
//! the same embeddings (docs/int8.md, "SFace's weights").
//!
//! SFace and the MiniFASNet pair were exported for one face a run: their input says `[1, 3, H, W]`
//! and MiniFASNet flattens its features with a `Reshape` to the constant shape `[1, -1]`. A run of
//! 16 faces costs SFace about four fifths, and MiniFASNet three fifths, of 16 single runs
//! (`cargo bench --bench batch`). [`free_batch`] leaves the input's first dimension unnamed
//! (any size), and the outputs' too, and turns each such constant's leading 1 into 0, which
//! `Reshape` reads as "the input's own first dimension": the same shape for one face, the batch
//! for several. Nothing else changes, and the loader proves it on the model itself before using
//! the edit (`OnnxModel::batch_matches_single_runs`): a batch of two must give what two single
//! runs give.
//!
//! The edits work on the protobuf encoding directly: the graph's fields are copied as they are
//! but for the dropped inputs, so nothing else in the file can change. A file it does not
//! understand is loaded unchanged.

use std::collections::HashSet;

mod prelu;

pub use prelu::prelu_as_relu_and_scales;

/// `ModelProto.graph`.
const MODEL_GRAPH: u64 = 7;
/// `GraphProto.initializer`.
const GRAPH_INITIALIZER: u64 = 5;
/// `GraphProto.input`.
const GRAPH_INPUT: u64 = 11;
/// `GraphProto.node`.
const GRAPH_NODE: u64 = 1;
/// `GraphProto.output`.
const GRAPH_OUTPUT: u64 = 12;
/// `NodeProto.input`.
const NODE_INPUT: u64 = 1;
/// `NodeProto.output`.
const NODE_OUTPUT: u64 = 2;
/// `NodeProto.op_type`.
const NODE_OP_TYPE: u64 = 4;
/// `NodeProto.attribute`.
const NODE_ATTRIBUTE: u64 = 5;
/// `AttributeProto.name`.
const ATTRIBUTE_NAME: u64 = 1;
/// `AttributeProto.t`: a tensor-valued attribute (a `Constant`'s `value`).
const ATTRIBUTE_TENSOR: u64 = 5;
/// `TensorProto.data_type`.
const TENSOR_DATA_TYPE: u64 = 2;
/// `TensorProto.int64_data`.
const TENSOR_INT64_DATA: u64 = 7;
/// `TensorProto.raw_data`.
const TENSOR_RAW_DATA: u64 = 9;
/// `TensorProto.DataType.INT64`.
const INT64: u64 = 7;
/// `ValueInfoProto.type`.
const VALUE_INFO_TYPE: u64 = 2;
/// `TypeProto.tensor_type`.
const TYPE_TENSOR: u64 = 1;
/// `TypeProto.Tensor.shape`.
const TENSOR_TYPE_SHAPE: u64 = 2;
/// `TensorShapeProto.dim`.
const SHAPE_DIM: u64 = 1;
/// `TensorShapeProto.Dimension.dim_value`.
const DIM_VALUE: u64 = 1;
/// `TensorProto.name`.
const TENSOR_NAME: u64 = 8;
/// `TensorProto.data_location`: EXTERNAL (1) means the weight lives in another file.
const TENSOR_DATA_LOCATION: u64 = 14;
/// `ValueInfoProto.name`.
const VALUE_INFO_NAME: u64 = 1;

/// Protobuf wire types this module meets.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LENGTH_DELIMITED: u8 = 2;
const FIXED32: u8 = 5;

/// One field of an encoded protobuf message.
struct Field<'a> {
    number: u64,
    wire: u8,
    /// The whole field as encoded, key included: copied as is when kept.
    encoded: &'a [u8],
    /// A length-delimited field's contents (empty for the other wire types).
    payload: &'a [u8],
    /// A varint field's value.
    value: u64,
}

fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn put_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends field `number` holding `payload`, as a length-delimited field.
fn put_length_delimited(number: u64, payload: &[u8], out: &mut Vec<u8>) {
    put_varint((number << 3) | u64::from(LENGTH_DELIMITED), out);
    put_varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// The fields of `message`, in order; `None` if it is not a well-formed encoding.
fn fields(message: &[u8]) -> Option<Vec<Field<'_>>> {
    let mut fields = Vec::new();
    let mut at = 0;
    while at < message.len() {
        let start = at;
        let key = varint(message, &mut at)?;
        let (number, wire) = (key >> 3, (key & 7) as u8);
        let (mut payload, mut value): (&[u8], u64) = (&[], 0);
        match wire {
            VARINT => value = varint(message, &mut at)?,
            FIXED64 => at = at.checked_add(8)?,
            FIXED32 => at = at.checked_add(4)?,
            LENGTH_DELIMITED => {
                let len = usize::try_from(varint(message, &mut at)?).ok()?;
                let end = at.checked_add(len)?;
                payload = message.get(at..end)?;
                at = end;
            }
            _ => return None,
        }
        fields.push(Field {
            number,
            wire,
            encoded: message.get(start..at)?,
            payload,
            value,
        });
    }
    Some(fields)
}

/// The string field `number` of `message`, if it has one.
fn string_field(message: &[u8], number: u64) -> Option<&[u8]> {
    fields(message)?
        .into_iter()
        .find(|f| f.number == number && f.wire == LENGTH_DELIMITED)
        .map(|f| f.payload)
}

/// Every string field `number` of `message` (none if it is not well formed).
fn string_fields(message: &[u8], number: u64) -> Vec<&[u8]> {
    fields(message)
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f.number == number && f.wire == LENGTH_DELIMITED)
        .map(|f| f.payload)
        .collect()
}

/// `message` re-encoded with each length-delimited field `number` replaced by what `edit` makes
/// of its payload (`None` from `edit`: kept as it is). `None` if `message` is not well formed.
fn edit_fields(message: &[u8], number: u64, mut edit: impl FnMut(&[u8]) -> Option<Vec<u8>>) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(message.len());
    for f in fields(message)? {
        match (f.number == number && f.wire == LENGTH_DELIMITED)
            .then(|| edit(f.payload))
            .flatten()
        {
            Some(payload) => put_length_delimited(number, &payload, &mut out),
            None => out.extend_from_slice(f.encoded),
        }
    }
    Some(out)
}

/// The graph of an encoded model, if it has exactly one.
fn the_graph(top: &[Field<'_>]) -> Option<usize> {
    let mut graphs = top
        .iter()
        .enumerate()
        .filter(|(_, f)| f.number == MODEL_GRAPH && f.wire == LENGTH_DELIMITED);
    let (at, _) = graphs.next()?;
    graphs.next().is_none().then_some(at)
}

/// `model` with its graph replaced by `graph`.
fn with_graph(model: &[u8], graph: &[u8]) -> Option<Vec<u8>> {
    edit_fields(model, MODEL_GRAPH, |_| Some(graph.to_vec()))
}

/// An encoded model's one graph, and the graph's fields.
fn graph_of(model: &[u8]) -> Option<(&[u8], Vec<Field<'_>>)> {
    let top = fields(model)?;
    let graph = top.get(the_graph(&top)?)?.payload;
    Some((graph, fields(graph)?))
}

/// The contents of each length-delimited field `number` among `fields`.
fn payloads<'a>(fields: &'a [Field<'a>], number: u64) -> impl Iterator<Item = &'a [u8]> + 'a {
    fields
        .iter()
        .filter(move |f| f.number == number && f.wire == LENGTH_DELIMITED)
        .map(|f| f.payload)
}

/// The leading dimension of a value's declared shape: `Some(Some(n))` for a fixed size,
/// `Some(None)` for a free one, `None` when no shape is declared.
fn leading_dim(value_info: &[u8]) -> Option<Option<u64>> {
    let ty = string_field(value_info, VALUE_INFO_TYPE)?;
    let tensor = string_field(ty, TYPE_TENSOR)?;
    let shape = string_field(tensor, TENSOR_TYPE_SHAPE)?;
    let dim = string_field(shape, SHAPE_DIM)?;
    Some(
        fields(dim)?
            .iter()
            .find(|f| f.number == DIM_VALUE && f.wire == VARINT)
            .map(|f| f.value),
    )
}

/// `value_info` with the leading dimension of its shape left unnamed: any size.
fn free_leading_dim(value_info: &[u8]) -> Option<Vec<u8>> {
    edit_fields(value_info, VALUE_INFO_TYPE, |ty| {
        edit_fields(ty, TYPE_TENSOR, |tensor| {
            edit_fields(tensor, TENSOR_TYPE_SHAPE, |shape| {
                let mut first = true;
                edit_fields(shape, SHAPE_DIM, |_| std::mem::take(&mut first).then(Vec::new))
            })
        })
    })
}

/// The first value of an INT64 tensor, and the tensor with that value set to 0.
fn int64_head(tensor: &[u8]) -> Option<(i64, Vec<u8>)> {
    let fs = fields(tensor)?;
    if !fs
        .iter()
        .any(|f| f.number == TENSOR_DATA_TYPE && f.wire == VARINT && f.value == INT64)
    {
        return None;
    }
    let raws: Vec<&Field> = fs
        .iter()
        .filter(|f| f.number == TENSOR_RAW_DATA && f.wire == LENGTH_DELIMITED)
        .collect();
    if let [raw] = raws[..] {
        let head = i64::from_le_bytes(raw.payload.get(..8)?.try_into().ok()?);
        let zeroed = edit_fields(tensor, TENSOR_RAW_DATA, |data| {
            Some([&[0u8; 8][..], data.get(8..)?].concat())
        })?;
        return Some((head, zeroed));
    }
    if !raws.is_empty() {
        // Several: a reader takes the last, and which one this edit would read is a guess.
        return None;
    }
    let mut out = Vec::with_capacity(tensor.len());
    let mut head = None;
    for f in &fs {
        match (f.number, f.wire) {
            (TENSOR_INT64_DATA, LENGTH_DELIMITED) if head.is_none() => {
                let mut at = 0;
                head = Some(varint(f.payload, &mut at)? as i64);
                let mut packed = vec![0];
                packed.extend_from_slice(&f.payload[at..]);
                put_length_delimited(TENSOR_INT64_DATA, &packed, &mut out);
            }
            (TENSOR_INT64_DATA, VARINT) if head.is_none() => {
                head = Some(f.value as i64);
                put_varint(TENSOR_INT64_DATA << 3, &mut out);
                put_varint(0, &mut out);
            }
            _ => out.extend_from_slice(f.encoded),
        }
    }
    Some((head?, out))
}

/// What a `Reshape` target needs so that a batch passes through it.
enum Target {
    /// It already keeps any batch (a leading -1 or 0), or is computed at run time.
    Fine,
    /// A constant leading 1: becomes 0.
    LeadingOne,
    /// A constant leading size other than 1: the model cannot take a batch this way.
    Fixed,
}

fn target(head: i64) -> Target {
    match head {
        1 => Target::LeadingOne,
        0 | -1 => Target::Fine,
        _ => Target::Fixed,
    }
}

/// `model` with a batch dimension fixed at 1 made free: its one input's and its outputs'
/// leading dimension left unnamed, and each constant `Reshape` target's leading 1 turned into 0.
/// `None` when its input's batch is not fixed at 1, a `Reshape` pins another batch size, or the
/// file is not one this edit understands: load it as it is, one face a run.
pub fn free_batch(model: &[u8]) -> Option<Vec<u8>> {
    let (graph, graph_fields) = graph_of(model)?;
    let of = |number: u64| payloads(&graph_fields, number);
    let weights: HashSet<&[u8]> = of(GRAPH_INITIALIZER)
        .filter_map(|t| string_field(t, TENSOR_NAME))
        .collect();
    let inputs: Vec<&[u8]> = of(GRAPH_INPUT)
        .filter(|v| string_field(v, VALUE_INFO_NAME).is_some_and(|n| !weights.contains(n)))
        .collect();
    if inputs.len() != 1 || leading_dim(inputs[0])? != Some(1) {
        return None;
    }
    fn op(node: &[u8]) -> &[u8] {
        string_field(node, NODE_OP_TYPE).unwrap_or_default()
    }
    // The second input of each Reshape is its target shape.
    let targets: HashSet<&[u8]> = of(GRAPH_NODE)
        .filter(|n| op(n) == b"Reshape")
        .filter_map(|n| string_fields(n, NODE_INPUT).get(1).copied())
        .collect();
    let constant_tensor = |node: &[u8]| -> Option<Vec<u8>> {
        string_fields(node, NODE_ATTRIBUTE)
            .into_iter()
            .find(|a| string_field(a, ATTRIBUTE_NAME) == Some(b"value"))
            .and_then(|a| string_field(a, ATTRIBUTE_TENSOR))
            .map(<[u8]>::to_vec)
    };
    // Every constant target must keep a batch, or be made to.
    let mut fixed = false;
    let mut check = |tensor: &[u8]| match int64_head(tensor) {
        Some((head, zeroed)) => match target(head) {
            Target::LeadingOne => Some(zeroed),
            Target::Fine => None,
            Target::Fixed => {
                fixed = true;
                None
            }
        },
        None => None,
    };
    let edited = edit_fields(graph, GRAPH_NODE, |node| {
        let output = string_fields(node, NODE_OUTPUT).first().copied()?;
        if op(node) != b"Constant" || !targets.contains(output) {
            return None;
        }
        let zeroed = check(&constant_tensor(node)?)?;
        edit_fields(node, NODE_ATTRIBUTE, |a| {
            (string_field(a, ATTRIBUTE_NAME) == Some(b"value"))
                .then(|| edit_fields(a, ATTRIBUTE_TENSOR, |_| Some(zeroed.clone())))
                .flatten()
        })
    })?;
    let edited = edit_fields(&edited, GRAPH_INITIALIZER, |t| {
        targets
            .contains(string_field(t, TENSOR_NAME)?)
            .then(|| check(t))
            .flatten()
    })?;
    if fixed {
        return None;
    }
    let input_name = string_field(inputs[0], VALUE_INFO_NAME)?;
    let edited = edit_fields(&edited, GRAPH_INPUT, |v| {
        (string_field(v, VALUE_INFO_NAME) == Some(input_name))
            .then(|| free_leading_dim(v))
            .flatten()
    })?;
    let edited = edit_fields(&edited, GRAPH_OUTPUT, |v| {
        (leading_dim(v)? == Some(1)).then(|| free_leading_dim(v)).flatten()
    })?;
    with_graph(model, &edited)
}

/// `model` (an encoded ONNX file) without the graph inputs that name its weights, or `None`
/// when there are none to drop or the file is not one this edit understands (then load it as
/// it is). Weights stored outside the file are left alone: their loading depends on the file's
/// own path, which a model loaded from memory has not.
pub fn weights_as_constants(model: &[u8]) -> Option<Vec<u8>> {
    let (_, graph_fields) = graph_of(model)?;
    let mut weights = HashSet::new();
    for initializer in payloads(&graph_fields, GRAPH_INITIALIZER) {
        let tensor = fields(initializer)?;
        if tensor
            .iter()
            .any(|t| t.number == TENSOR_DATA_LOCATION && t.wire == VARINT && t.value == 1)
        {
            return None;
        }
        weights.insert(string_field(initializer, TENSOR_NAME)?);
    }
    let is_weight_input = |f: &Field| {
        f.number == GRAPH_INPUT
            && f.wire == LENGTH_DELIMITED
            && string_field(f.payload, VALUE_INFO_NAME).is_some_and(|name| weights.contains(name))
    };
    let kept: Vec<&Field> = graph_fields.iter().filter(|f| !is_weight_input(f)).collect();
    if kept.len() == graph_fields.len() {
        return None;
    }
    let new_graph: Vec<u8> = kept.iter().flat_map(|f| f.encoded.iter().copied()).collect();
    with_graph(model, &new_graph)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn field(number: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_length_delimited(number, payload, &mut out);
        out
    }

    pub(super) fn varint_field(number: u64, value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(number << 3, &mut out);
        put_varint(value, &mut out);
        out
    }

    pub(super) fn tensor(name: &str) -> Vec<u8> {
        [field(TENSOR_NAME, name.as_bytes()), field(9, &[0; 300])].concat()
    }

    pub(super) fn model(graph: &[Vec<u8>]) -> Vec<u8> {
        [
            varint_field(1, 6),
            field(MODEL_GRAPH, &graph.concat()),
            field(8, b"opset"),
        ]
        .concat()
    }

    pub(super) fn input(name: &str) -> Vec<u8> {
        field(GRAPH_INPUT, &field(VALUE_INFO_NAME, name.as_bytes()))
    }

    #[test]
    fn drops_the_inputs_that_name_weights_and_keeps_everything_else_byte_for_byte() {
        let node = field(1, b"a conv node");
        let weight = field(GRAPH_INITIALIZER, &tensor("conv_w"));
        let original = model(&[
            node.clone(),
            weight.clone(),
            input("data"),
            input("conv_w"),
            field(12, b"out"),
        ]);
        let edited = weights_as_constants(&original).unwrap();
        assert_eq!(edited, model(&[node, weight, input("data"), field(12, b"out")]));
        assert_eq!(weights_as_constants(&edited), None, "nothing left to drop");
    }

    #[test]
    fn leaves_alone_what_it_does_not_understand() {
        assert_eq!(weights_as_constants(b"not a model \xff\xff\xff"), None);
        assert_eq!(weights_as_constants(&[]), None);
        let truncated = model(&[field(GRAPH_INITIALIZER, &tensor("w")), input("w")]);
        assert_eq!(weights_as_constants(&truncated[..truncated.len() - 10]), None);
        // A weight in another file needs the model's path to load.
        let external = [tensor("w"), varint_field(TENSOR_DATA_LOCATION, 1)].concat();
        assert_eq!(
            weights_as_constants(&model(&[field(GRAPH_INITIALIZER, &external), input("w")])),
            None
        );
    }

    /// A value of element type float and shape `dims` (0: a free dimension).
    pub(super) fn value(name: &str, dims: &[u64]) -> Vec<u8> {
        let shape: Vec<u8> = dims
            .iter()
            .flat_map(|&d| field(SHAPE_DIM, &if d == 0 { Vec::new() } else { varint_field(DIM_VALUE, d) }))
            .collect();
        let tensor = [varint_field(1, 1), field(TENSOR_TYPE_SHAPE, &shape)].concat();
        [
            field(VALUE_INFO_NAME, name.as_bytes()),
            field(VALUE_INFO_TYPE, &field(TYPE_TENSOR, &tensor)),
        ]
        .concat()
    }

    fn int64_tensor(name: &str, values: &[i64]) -> Vec<u8> {
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        [
            field(TENSOR_NAME, name.as_bytes()),
            varint_field(TENSOR_DATA_TYPE, INT64),
            field(TENSOR_RAW_DATA, &raw),
        ]
        .concat()
    }

    pub(super) fn node(op: &str, inputs: &[&str], output: &str, attribute: Option<Vec<u8>>) -> Vec<u8> {
        let mut n: Vec<u8> = inputs.iter().flat_map(|i| field(NODE_INPUT, i.as_bytes())).collect();
        n.extend(field(NODE_OUTPUT, output.as_bytes()));
        n.extend(field(NODE_OP_TYPE, op.as_bytes()));
        if let Some(a) = attribute {
            n.extend(field(NODE_ATTRIBUTE, &a));
        }
        field(GRAPH_NODE, &n)
    }

    fn constant(output: &str, values: &[i64]) -> Vec<u8> {
        let value = [
            field(ATTRIBUTE_NAME, b"value"),
            field(ATTRIBUTE_TENSOR, &int64_tensor("", values)),
        ]
        .concat();
        node("Constant", &[], output, Some(value))
    }

    /// MiniFASNet's shape: a convolution, then a flatten to a constant `[1, -1]` (or `target`
    /// given as a weight), then a product with a weight.
    fn one_face_model(target: &[i64], as_weight: bool) -> Vec<u8> {
        let target_source = if as_weight {
            field(GRAPH_INITIALIZER, &int64_tensor("shape", target))
        } else {
            constant("shape", target)
        };
        model(&[
            node("Conv", &["x", "w"], "c", None),
            target_source,
            node("Reshape", &["c", "shape"], "f", None),
            node("MatMul", &["f", "m"], "y", None),
            field(GRAPH_INITIALIZER, &tensor("w")),
            field(GRAPH_INPUT, &value("x", &[1, 3, 80, 80])),
            field(GRAPH_INPUT, &value("w", &[8, 3, 3, 3])),
            field(GRAPH_OUTPUT, &value("y", &[1, 3])),
        ])
    }

    #[test]
    fn frees_the_batch_of_a_one_face_model_and_changes_nothing_else() {
        for as_weight in [false, true] {
            let edited = free_batch(&one_face_model(&[1, -1], as_weight)).unwrap();
            let target = if as_weight {
                field(GRAPH_INITIALIZER, &int64_tensor("shape", &[0, -1]))
            } else {
                constant("shape", &[0, -1])
            };
            let expected = model(&[
                node("Conv", &["x", "w"], "c", None),
                target,
                node("Reshape", &["c", "shape"], "f", None),
                node("MatMul", &["f", "m"], "y", None),
                field(GRAPH_INITIALIZER, &tensor("w")),
                field(GRAPH_INPUT, &value("x", &[0, 3, 80, 80])),
                // A weight's shape is its own: not a batch.
                field(GRAPH_INPUT, &value("w", &[8, 3, 3, 3])),
                field(GRAPH_OUTPUT, &value("y", &[0, 3])),
            ]);
            assert_eq!(edited, expected, "target as a weight: {as_weight}");
            assert_eq!(free_batch(&edited), None, "the batch is already free");
        }
    }

    #[test]
    fn int64_targets_written_either_way_have_their_leading_one_zeroed() {
        let packed = [
            varint_field(TENSOR_DATA_TYPE, INT64),
            field(TENSOR_INT64_DATA, &[1, 0x7f]),
        ]
        .concat();
        let (head, zeroed) = int64_head(&packed).unwrap();
        assert_eq!(head, 1);
        assert_eq!(
            zeroed,
            [
                varint_field(TENSOR_DATA_TYPE, INT64),
                field(TENSOR_INT64_DATA, &[0, 0x7f])
            ]
            .concat()
        );
        let unpacked = [
            varint_field(TENSOR_DATA_TYPE, INT64),
            varint_field(TENSOR_INT64_DATA, 1),
            varint_field(TENSOR_INT64_DATA, 512),
        ]
        .concat();
        let (head, zeroed) = int64_head(&unpacked).unwrap();
        assert_eq!(head, 1);
        assert_eq!(
            zeroed,
            [
                varint_field(TENSOR_DATA_TYPE, INT64),
                varint_field(TENSOR_INT64_DATA, 0),
                varint_field(TENSOR_INT64_DATA, 512),
            ]
            .concat()
        );
        // Two raw_data fields (a reader takes the last, this edit would read the first), the
        // second too short to zero: refused, not a panic.
        let twice = [
            varint_field(TENSOR_DATA_TYPE, INT64),
            field(TENSOR_RAW_DATA, &1i64.to_le_bytes()),
            field(TENSOR_RAW_DATA, &[1, 0]),
        ]
        .concat();
        assert_eq!(int64_head(&twice), None);
        let float = [varint_field(TENSOR_DATA_TYPE, 1), field(TENSOR_RAW_DATA, &[0; 8])].concat();
        assert_eq!(int64_head(&float), None, "not an INT64 tensor");
    }

    #[test]
    fn leaves_alone_a_model_whose_batch_it_cannot_free() {
        // A Reshape that pins a batch of 4.
        assert_eq!(free_batch(&one_face_model(&[4, -1], false)), None);
        // Targets that keep any batch need no edit, but the input still has one freed.
        assert!(free_batch(&one_face_model(&[-1, 512], false)).is_some());
        // Two inputs: which is the batch is not for this edit to guess.
        let two = model(&[
            field(GRAPH_INPUT, &value("a", &[1, 3, 8, 8])),
            field(GRAPH_INPUT, &value("b", &[1, 3, 8, 8])),
        ]);
        assert_eq!(free_batch(&two), None);
        // An input whose batch is fixed at another size, or has no shape.
        assert_eq!(
            free_batch(&model(&[field(GRAPH_INPUT, &value("x", &[2, 3, 8, 8]))])),
            None
        );
        assert_eq!(free_batch(&model(&[input("x")])), None);
        assert_eq!(free_batch(b"not a model \xff\xff"), None);
    }
}
