//! In-memory edits of an ONNX file's protobuf encoding, made before ONNX Runtime loads it: for now,
//! weights listed as graph inputs dropped from the inputs so that they fold as constants.
//!
//! An ONNX file may name an initializer (a weight) among the graph's inputs too, as older
//! exporters did. ONNX Runtime must then treat the weight as something a caller could replace
//! at run time, so it folds nothing that depends on it: SFace (2021dec) lists all 174 of its
//! weights that way, and every batch normalisation stays a separate pass instead of being folded
//! into its convolution. rollcall never feeds a weight, so it drops those entries from the
//! inputs (the weights themselves are untouched) and SFace runs about 1.15 to 1.25x faster for
//! the same embeddings (docs/int8.md, "SFace's weights").
//!
//! The edit works on the protobuf encoding directly: the graph's fields are copied as they are
//! but for the dropped inputs, so nothing else in the file can change. A file it does not
//! understand is loaded unchanged.

use std::collections::HashSet;

/// `ModelProto.graph`.
const MODEL_GRAPH: u64 = 7;
/// `GraphProto.initializer`.
const GRAPH_INITIALIZER: u64 = 5;
/// `GraphProto.input`.
const GRAPH_INPUT: u64 = 11;
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

/// `model` (an encoded ONNX file) without the graph inputs that name its weights, or `None`
/// when there are none to drop or the file is not one this edit understands (then load it as
/// it is). Weights stored outside the file are left alone: their loading depends on the file's
/// own path, which a model loaded from memory has not.
pub fn weights_as_constants(model: &[u8]) -> Option<Vec<u8>> {
    let top = fields(model)?;
    let mut graphs = top
        .iter()
        .filter(|f| f.number == MODEL_GRAPH && f.wire == LENGTH_DELIMITED);
    let graph = graphs.next()?;
    if graphs.next().is_some() {
        return None;
    }
    let graph_fields = fields(graph.payload)?;
    let mut weights = HashSet::new();
    for f in graph_fields
        .iter()
        .filter(|f| f.number == GRAPH_INITIALIZER && f.wire == LENGTH_DELIMITED)
    {
        let tensor = fields(f.payload)?;
        if tensor
            .iter()
            .any(|t| t.number == TENSOR_DATA_LOCATION && t.wire == VARINT && t.value == 1)
        {
            return None;
        }
        weights.insert(string_field(f.payload, TENSOR_NAME)?);
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
    let mut new_graph = Vec::with_capacity(graph.payload.len());
    for f in kept {
        new_graph.extend_from_slice(f.encoded);
    }
    let mut out = Vec::with_capacity(model.len());
    for f in &top {
        if std::ptr::eq(f.encoded, graph.encoded) {
            put_length_delimited(MODEL_GRAPH, &new_graph, &mut out);
        } else {
            out.extend_from_slice(f.encoded);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_length_delimited(number, payload, &mut out);
        out
    }

    fn varint_field(number: u64, value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(number << 3, &mut out);
        put_varint(value, &mut out);
        out
    }

    fn tensor(name: &str) -> Vec<u8> {
        [field(TENSOR_NAME, name.as_bytes()), field(9, &[0; 300])].concat()
    }

    fn model(graph: &[Vec<u8>]) -> Vec<u8> {
        [
            varint_field(1, 6),
            field(MODEL_GRAPH, &graph.concat()),
            field(8, b"opset"),
        ]
        .concat()
    }

    fn input(name: &str) -> Vec<u8> {
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
}
