#!/usr/bin/env python3
"""An independent PyTorch forward of an exported LNMN model, written from docs/design.md section 2
and docs/weights.md, for checking the F# network against (tests/Lnmn.Tests/ParityTests.fs).

    python3 python/lnmn_reference.py WEIGHTS BATCH OUT

WEIGHTS is an `lnmn-train export` file (safetensors or PyTorch) with NAME.spec.json beside it;
BATCH a safetensors file with `tokens` (B, S) int64 (0 = padding), `lengths` (B) int64 and
`features` (B, C, H, W) float32. OUT receives, as safetensors, for α mode `soft` (softmax α) and
`hard_max` (one-hot at argmax α): `MODE.logits` (B, A), `MODE.module_weights` (B, T, M) and
`MODE.pointers` (B, T, L), the pointer after each step.

Needs only torch (Debian 12: apt-get install python3-torch); safetensors is read and written here.
"""
import json
import os
import struct
import sys

import torch
import torch.nn.functional as F

OPS = ["min", "max", "sum", "product", "choose_1", "choose_2"]
KINDS = [("Attention", "ThreeInput"), ("Attention", "FourInput"), ("Answer", "ThreeInput"), ("Answer", "FourInput")]
DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "I32": torch.int32}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    body = data[8 + size:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        dtype = DTYPES[entry["dtype"]]
        flat = torch.frombuffer(bytearray(body[start:end]), dtype=dtype) if end > start else torch.zeros(0, dtype=dtype)
        tensors[name] = flat.reshape(entry["shape"]).clone()
    return tensors


def write_safetensors(path, tensors):
    names = {torch.float32: "F32", torch.int64: "I64"}
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(header).encode()
    encoded += b" " * ((8 - len(encoded) % 8) % 8)
    temporary = path + ".partial"
    with open(temporary, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for c in chunks:
            f.write(c)
    os.replace(temporary, path)


def read_weights(path):
    with open(path, "rb") as f:
        zipped = f.read(2) == b"PK"
    return torch.load(path) if zipped else read_safetensors(path)


def spec_path(weights):
    directory, name = os.path.split(weights)
    return os.path.join(directory, os.path.splitext(name)[0] + ".spec.json")


def module_kind(module):
    """(role, arity) of a generic cell, None for NoOp; other modules have no reference here."""
    if module == "NoOp":
        return None
    if isinstance(module, dict) and "Generic" in module:
        cell = module["Generic"]
        cell = cell[0] if isinstance(cell, list) else cell
        return cell["Role"], cell["Arity"]
    raise ValueError(f"no reference for module {module}")


def temperature(spec):
    """The soft pointer's temperature; the spec's None means LNMN's 0.2."""
    pointer = spec.get("Pointer")
    if pointer is None:
        return 0.2
    if isinstance(pointer, dict) and "Soft" in pointer:
        value = pointer["Soft"]
        return float(value[0] if isinstance(value, list) else value)
    raise ValueError(f"no reference for pointer {pointer}")


def position_map(height, width):
    periods = 10000.0 ** torch.linspace(0.0, 1.0, 32, dtype=torch.float64)
    rows = torch.arange(height, dtype=torch.float64)[None, :, None] / periods[:, None, None]
    cols = torch.arange(width, dtype=torch.float64)[None, None, :] / periods[:, None, None]
    rows, cols = rows.expand(32, height, width), cols.expand(32, height, width)
    return torch.cat([rows.sin(), rows.cos(), cols.sin(), cols.cos()]).float()


def lstm_over(x, w, prefix, hidden):
    """One-layer LSTM over x (B, S, E) from the state-dict weights under `prefix`; outputs (B, S, h)."""
    w_ih, w_hh = w[prefix + "weight_ih_l0"], w[prefix + "weight_hh_l0"]
    bias = w[prefix + "bias_ih_l0"] + w[prefix + "bias_hh_l0"]
    b = x.shape[0]
    h = x.new_zeros(b, hidden)
    c = x.new_zeros(b, hidden)
    outputs = []
    for s in range(x.shape[1]):
        gates = x[:, s] @ w_ih.t() + h @ w_hh.t() + bias
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs, 1)


def encode(w, tokens, lengths, hidden):
    """Bi-LSTM: word vectors (B, S, 2h), zero at padding, and the question vector (B, 2h)."""
    b, s = tokens.shape
    embedded = w["encoder.embedding.weight"][tokens]
    forward = lstm_over(embedded, w, "encoder.forward_lstm.", hidden)
    backward = torch.zeros_like(forward)
    backward_last = []
    for row in range(b):
        n = int(lengths[row])
        reversed_words = embedded[row:row + 1, :n].flip(1)
        out = lstm_over(reversed_words, w, "encoder.backward_lstm.", hidden)[0]
        backward[row, :n] = out.flip(0)
        backward_last.append(out[n - 1])
    forward_last = torch.stack([forward[row, int(lengths[row]) - 1] for row in range(b)])
    real = (torch.arange(s)[None, :] < lengths[:, None]).float()[..., None]
    words = torch.cat([forward, backward], -1) * real
    return words, torch.cat([forward_last, torch.stack(backward_last)], -1)


def node(weights, x1, x2, each_op=False):
    """O(x1, x2): the op weights (6) mixing min, max, sum, product, choose_1, choose_2, then L2
    normalised over the channels (the last dimension). each_op (NodeMix "NormaliseEachOp", ours, not
    the paper's): every op L2-normalised over the channels before the mixture."""
    shape = torch.broadcast_shapes(x1.shape, x2.shape)
    ops = [torch.minimum(x1, x2), torch.maximum(x1, x2), x1 + x2, x1 * x2, x1.expand(shape), x2.expand(shape)]
    if each_op:
        ops = [F.normalize(op.expand(shape), p=2.0, dim=-1, eps=1e-12) for op in ops]
    mixed = sum(weights[i] * ops[i] for i in range(6))
    return F.normalize(mixed, p=2.0, dim=-1, eps=1e-12)


def op_weights(alpha, hard_max):
    if hard_max:
        return F.one_hot(alpha.argmax(-1), 6).to(alpha.dtype)
    return alpha.softmax(-1)


def pop(p):
    return torch.cat([p[:, :2].sum(-1, keepdim=True), p[:, 2:], torch.zeros_like(p[:, :1])], -1)


def push(p):
    return torch.cat([torch.zeros_like(p[:, :1]), p[:, :-2], p[:, -2:].sum(-1, keepdim=True)], -1)


def read(stack, p):
    return (stack * p[:, :, None, None]).sum(1)


def pool(last, a, pooling, a2=None, text_map=None, describe=None):
    """An answer cell's last node (B, H, W, D) over the map: the paper's plain sum, or
    (AttentionWeighted) weighted by H*W*softmax of the map a (B, H, W, 1) the cell read.
    describe = (image, c_t, gate weight, gate bias) for AttentionWeightedAndDescribe."""
    if pooling == "AttentionWeightedAndDescribe":
        # ours: [H*W * m ; H*W * g * p (* p with two maps)], p the img map pooled under a, g = W_g c_t + b_g
        image, question, gate_weight, gate_bias = describe
        b, h, wd, _ = a.shape
        weights = a.reshape(b, -1).softmax(-1).reshape(b, h, wd, 1)
        pooled_image = (image * weights).sum((1, 2))
        g = F.linear(question, gate_weight, gate_bias)
        read = g * pooled_image * pooled_image if a2 is not None else g * pooled_image
        return torch.cat([(last * weights).sum((1, 2)) * (h * wd), read * (h * wd)], -1)
    if pooling == "GatedProduct":
        # ours: l2norm(c * m1 [* m2]), m_i the softmax-weighted mean under each map the cell read
        def mean_under(m):
            b, h, wd, _ = m.shape
            return (last * m.reshape(b, -1).softmax(-1).reshape(b, h, wd, 1)).sum((1, 2))
        product = mean_under(a) if a2 is None else mean_under(a) * mean_under(a2)
        gated = text_map * product
        return gated * (gated * gated).sum(-1, keepdim=True).clamp_min(1e-24).rsqrt()
    if pooling == "AttentionWeighted":
        b, h, wd, _ = a.shape
        weights = a.reshape(b, -1).softmax(-1).reshape(b, h, wd, 1) * (h * wd)
        return (last * weights).sum((1, 2))
    if pooling in ("AttentionSquared", "AttentionWeightedAndSquared"):
        # ours: H*W * m*m, m the softmax-weighted mean; or [H*W * m ; H*W * m*m]
        b, h, wd, _ = a.shape
        mean = (last * a.reshape(b, -1).softmax(-1).reshape(b, h, wd, 1)).sum((1, 2))
        if pooling == "AttentionSquared":
            return mean * mean * (h * wd)
        return torch.cat([mean * (h * wd), mean * mean * (h * wd)], -1)
    return last.sum((1, 2))


def forward(w, spec, tokens, lengths, features, hard_max):
    dims = spec["Dims"]
    steps, length = dims["Steps"], dims["StackLength"]
    hidden, mem_dim = dims["LstmHidden"], dims["MemDim"]
    discipline = spec["Stack"]
    b, _, height, width = features.shape
    kinds = [module_kind(m) for m in spec["Modules"]]

    words, question = encode(w, tokens, lengths, hidden)
    valid = torch.arange(tokens.shape[1])[None, :] < lengths[:, None]

    position = position_map(height, width)[None].expand(b, -1, -1, -1)
    kb = F.conv2d(torch.cat([features, position], 1), w["kb.conv1.weight"], w["kb.conv1.bias"])
    kb = F.conv2d(F.elu(kb), w["kb.conv2.weight"], w["kb.conv2.bias"])
    # CellInputs "UnitNorm" (ours, not the paper's): image and text maps L2-normalised per position.
    unit = spec.get("CellInputs") == "UnitNorm"
    cell_input = (lambda x: F.normalize(x, p=2.0, dim=-1, eps=1e-12)) if unit else (lambda x: x)
    image = cell_input(F.conv2d(kb, w["image_projection.weight"], w["image_projection.bias"]).permute(0, 2, 3, 1))  # (B, H, W, D)

    each_op = spec.get("NodeMix") == "NormaliseEachOp"
    mix = lambda weights, x1, x2: node(weights, x1, x2, each_op)

    # Per cell kind: α, output weight and bias; cells of a kind are numbered in module order.
    cells = {}
    for role, arity in KINDS:
        name = f"cells.{role.lower()}_{'3in' if arity == 'ThreeInput' else '4in'}."
        if name + "alpha" in w:
            cells[(role, arity)] = (op_weights(w[name + "alpha"], hard_max), w[name + "out_weight"], w[name + "out_bias"],
                                    w.get(name + "gate_weight"), w.get(name + "gate_bias"))

    # StackStart (None: the discipline's own, zeros for Reference, ones for Push; "Ones" with
    # Reference is ours, not the authors').
    start = spec.get("StackStart") or ("Zeros" if discipline == "Reference" else "Ones")
    stack = (torch.zeros if start == "Zeros" else torch.ones)(b, length, height, width)
    pointer = F.one_hot(torch.zeros(b, dtype=torch.int64), length).float()
    memory = torch.zeros(b, mem_dim)
    text = w["controller.initial_text"][None].expand(b, -1)
    module_weights, pointers = [], []

    for t in range(steps):
        projected = question @ w["controller.step_projections"][t].t() + w["controller.shared_bias"]
        u = F.linear(torch.cat([projected, text], -1), w["controller.combine.weight"], w["controller.combine.bias"])
        scores = F.linear(u[:, None] * words, w["controller.word_scores.weight"], w["controller.word_scores.bias"])[..., 0]
        attention = scores.masked_fill(~valid, float("-inf")).softmax(-1)
        text = (attention[:, :, None] * words).sum(1)
        weights = (u @ w["controller.module_scores.weight"].t()).softmax(-1)  # (B, M)

        text_map = cell_input(F.linear(text, w["text_projection.weight"], w["text_projection.bias"]))  # (B, D)
        c = text_map[:, None, None, :]
        popped = pop(pointer)
        a1 = read(stack, pointer)[..., None]  # (B, H, W, 1)
        a2 = read(stack, popped)[..., None]

        next_stack = torch.zeros_like(stack)
        next_pointer = torch.zeros_like(pointer)
        next_memory = torch.zeros_like(memory)
        seen = {}
        for m, kind in enumerate(kinds):
            wm = weights[:, m]
            if kind is None:  # NoOp: stack and pointer as they were, no memory
                next_stack += wm[:, None, None, None] * stack
                next_pointer += wm[:, None] * pointer
                continue
            j = seen.get(kind, 0)
            seen[kind] = j + 1
            ops, out_weight, out_bias, gate_weight, gate_bias = cells[kind]
            role, arity = kind
            if arity == "ThreeInput":
                last = mix(ops[j, 1], mix(ops[j, 0], image, a1), c)
            else:
                last = mix(ops[j, 2], mix(ops[j, 1], image, mix(ops[j, 0], a1, a2)), c)
            if role == "Attention":
                out = (last * out_weight[j]).sum(-1) + out_bias[j]  # (B, H, W)
                if arity == "ThreeInput":
                    p = pointer if discipline == "Reference" else push(pointer)
                else:
                    p = popped if discipline == "Reference" else push(pop(popped))
                written = stack * (1 - p[:, :, None, None]) + out[:, None] * p[:, :, None, None]
                next_stack += wm[:, None, None, None] * written
            else:
                p = popped if arity == "ThreeInput" else pop(popped)
                second = a2 if arity == "FourInput" else None
                describe = None if gate_weight is None else (image, text, gate_weight[j], gate_bias[j])
                inputs = torch.cat([text_map, memory, pool(last, a1, spec.get("AnswerPooling"), second, text_map, describe)], -1)
                next_memory += wm[:, None] * F.linear(inputs, out_weight[j], out_bias[j])
                next_stack += wm[:, None, None, None] * stack
            next_pointer += wm[:, None] * p
        stack = next_stack
        pointer = (next_pointer / temperature(spec)).softmax(-1)
        memory = next_memory
        module_weights.append(weights)
        pointers.append(pointer)

    hidden_layer = F.elu(F.linear(torch.cat([question, memory], -1), w["classifier.hidden.weight"], w["classifier.hidden.bias"]))
    logits = F.linear(hidden_layer, w["classifier.out.weight"], w["classifier.out.bias"])
    return logits, torch.stack(module_weights, 1), torch.stack(pointers, 1)


def main(argv):
    if len(argv) != 4:
        sys.exit("usage: lnmn_reference.py WEIGHTS BATCH OUT")
    weights_path, batch_path, out_path = argv[1:]
    with open(spec_path(weights_path)) as f:
        spec = json.load(f)["Model"]
    w = {k: v.float() for k, v in read_weights(weights_path).items()}
    batch = read_safetensors(batch_path)
    outputs = {}
    with torch.no_grad():
        for mode, hard_max in [("soft", False), ("hard_max", True)]:
            logits, module_weights, pointers = forward(w, spec, batch["tokens"], batch["lengths"], batch["features"], hard_max)
            outputs[f"{mode}.logits"] = logits
            outputs[f"{mode}.module_weights"] = module_weights
            outputs[f"{mode}.pointers"] = pointers
    write_safetensors(out_path, outputs)


if __name__ == "__main__":
    main(sys.argv)
