/// What a learned module computes, as an expression over its inputs, simplified by algebra that holds
/// for the six node ops, and printed in the paper's notation (Table 6) or LaTeX.
///
/// Every node L2-normalises its output over channels; the printed notation leaves that out, as the
/// paper does, but `Chosen` remembers it so that evaluating a simplified expression still gives
/// exactly what the module computes.
module Lnmn.Analysis.Expression

open Lnmn.Core.Specs

type Input =
    /// conv_1(I): the img map.
    | Image
    /// a: the attention map a 3-input cell reads.
    | AttentionMap
    /// a_1, a_2: the two maps a 4-input cell reads.
    | AttentionMap1
    | AttentionMap2
    /// W_1 c_txt: the txt vector.
    | Text

type Expr =
    | Leaf of Input
    /// A node: op of its inputs, then normalised.
    | Node of NodeOp * Expr * Expr
    /// What is left of a node whose result is one input (choose_1, choose_2, min(x, x), …): prints as
    /// `Kept`; evaluates as the node did, `Kept` broadcast to the node's shape and normalised.
    | Chosen of kept: Expr * dropped: Expr

/// The canonical operand order: the image first, then nodes, then maps, the text last (as the
/// paper mostly prints them).
let rec private sortKey e =
    match e with
    | Leaf Image -> "0"
    | Node(op, x, y) -> $"1{NodeOp.name op}({sortKey x},{sortKey y})"
    | Leaf AttentionMap -> "2"
    | Leaf AttentionMap1 -> "3"
    | Leaf AttentionMap2 -> "4"
    | Leaf Text -> "9"
    | Chosen(x, _) -> sortKey x

/// Structural equality up to what printing shows (a `Chosen` is its kept part).
let private same x y = sortKey x = sortKey y

/// choose_1(x, y) = x, choose_2(x, y) = y, min(x, x) = max(x, x) = x; the operands of min, max, +
/// and ⊙ in a canonical order (they commute). Inputs that drop out stay only in `Chosen`.
let rec simplify (e: Expr) : Expr =
    match e with
    | Leaf _ -> e
    | Chosen(x, y) -> Chosen(simplify x, simplify y)
    | Node(op, x, y) ->
        let x, y = simplify x, simplify y
        match op with
        | Choose1 -> Chosen(x, y)
        | Choose2 -> Chosen(y, x)
        | Min | Max when same x y -> Chosen(x, y)
        | Min | Max | Sum | Product -> if sortKey x <= sortKey y then Node(op, x, y) else Node(op, y, x)

type Notation =
    | Paper
    | Latex

let private leafText notation input =
    match notation, input with
    | Paper, Image -> "conv_1(I)"
    | Paper, AttentionMap -> "a"
    | Paper, AttentionMap1 -> "a_1"
    | Paper, AttentionMap2 -> "a_2"
    | Paper, Text -> "W_1 c_txt"
    | Latex, Image -> @"\mathrm{conv}_1(\mathcal{I})"
    | Latex, AttentionMap -> "a"
    | Latex, AttentionMap1 -> "a_1"
    | Latex, AttentionMap2 -> "a_2"
    | Latex, Text -> "W_1 c_{txt}"

/// The expression alone; binary operators in parentheses unless at the top.
let render (notation: Notation) (e: Expr) =
    let rec go top e =
        match e with
        | Leaf input -> leafText notation input
        | Chosen(x, _) -> go top x
        | Node(op, x, y) ->
            let infix symbol = if top then $"{go false x} {symbol} {go false y}" else $"({go false x} {symbol} {go false y})"
            match notation, op with
            | _, Sum -> infix "+"
            | Paper, Product -> infix "⊙"
            | Latex, Product -> infix @"\odot"
            | Paper, _ -> $"{NodeOp.name op}({go true x}, {go true y})"
            | Latex, Min -> $@"\min({go true x}, {go true y})"
            | Latex, Max -> $@"\max({go true x}, {go true y})"
            | Latex, _ -> $@"\mathrm{{{NodeOp.name op}}}({go true x}, {go true y})"
    go true e

/// The whole module: attention cells end in conv_2, answer cells in W_2[Σ …, W_1 c_txt, f_mem];
/// Σ_a is the sum weighted by H·W·softmax(a) (`AnswerPooling.AttentionWeighted`); (Σ_a …)² its
/// elementwise square (`AttentionSquared`, up to the H·W scale); both side by side
/// (`AttentionWeightedAndSquared`); ‖c ⊙ Σ_a1 … ⊙ Σ_a2 …‖ Describe's read-out, normalised
/// (`GatedProduct`, one pool in 3-input cells); Σ_a beside g(c_t) ⊙ (Σ_a conv_1(I))², Describe's read-out of
/// the img map (`AttentionWeightedAndDescribe`, one pool in 3-input cells).
let renderModule (notation: Notation) (kind: CellKind) (pooling: AnswerPooling) (e: Expr) =
    let inner = render notation e
    let role = kind.Role
    let pooled =
        match notation, pooling with
        | Paper, GatedProduct when kind.Arity = FourInput -> $"‖c_txt ⊙ Σ_a1 {inner} ⊙ Σ_a2 {inner}‖"
        | Paper, GatedProduct -> $"‖c_txt ⊙ Σ_a {inner}‖"
        | Latex, GatedProduct when kind.Arity = FourInput -> $@"\widehat{{c_{{txt}} \odot \sum_{{a_1}} {inner} \odot \sum_{{a_2}} {inner}}}"
        | Latex, GatedProduct -> $@"\widehat{{c_{{txt}} \odot \sum_a {inner}}}"
        | Paper, AttentionWeightedAndDescribe when kind.Arity = FourInput -> $"Σ_a {inner}, g(c_t) ⊙ (Σ_a conv_1(I))²"
        | Paper, AttentionWeightedAndDescribe -> $"Σ_a {inner}, g(c_t) ⊙ Σ_a conv_1(I)"
        | Latex, AttentionWeightedAndDescribe when kind.Arity = FourInput -> $@"\sum_a {inner}, g(c_t) \odot (\sum_a \mathrm{{conv}}_1(\mathcal{{I}}))^2"
        | Latex, AttentionWeightedAndDescribe -> $@"\sum_a {inner}, g(c_t) \odot \sum_a \mathrm{{conv}}_1(\mathcal{{I}})"
        | Paper, SpatialSum -> $"Σ {inner}"
        | Paper, AttentionWeighted -> $"Σ_a {inner}"
        | Paper, AttentionSquared -> $"(Σ_a {inner})²"
        | Paper, AttentionWeightedAndSquared -> $"Σ_a {inner}, (Σ_a {inner})²"
        | Latex, SpatialSum -> $@"\sum {inner}"
        | Latex, AttentionWeighted -> $@"\sum_a {inner}"
        | Latex, AttentionSquared -> $@"(\sum_a {inner})^2"
        | Latex, AttentionWeightedAndSquared -> $@"\sum_a {inner}, (\sum_a {inner})^2"
    match notation, role with
    | Paper, Attention -> $"conv_2({inner})"
    | Paper, Answer -> $"W_2[{pooled}, W_1 c_txt, f_mem]"
    | Latex, Attention -> $@"\mathrm{{conv}}_2({inner})"
    | Latex, Answer -> $@"W_2[{pooled}, W_1 c_{{txt}}, f_{{mem}}]"

/// The unsimplified expression of a cell whose nodes compute `ops` (one op per node).
let ofCell (arity: CellArity) (ops: NodeOp list) : Expr =
    match arity, ops with
    | ThreeInput, [ op0; op1 ] -> Node(op1, Node(op0, Leaf Image, Leaf AttentionMap), Leaf Text)
    | FourInput, [ op0; op1; op2 ] -> Node(op2, Node(op1, Leaf Image, Node(op0, Leaf AttentionMap1, Leaf AttentionMap2)), Leaf Text)
    | _ -> invalidArg "ops" $"a {arity} cell has {(match arity with ThreeInput -> 2 | FourInput -> 3)} nodes, not {ops.Length}"
