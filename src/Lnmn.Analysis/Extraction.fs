/// Reading every module of a trained network back as a formula: the argmax op of each node composed
/// into an expression, simplified, with each node's winning weight (how one-hot the node is).
module Lnmn.Analysis.Extraction

open TorchSharp
open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Network
open Lnmn.Analysis.Expression

type ModuleFormula =
    { Module: int
      Kind: CellKind
      /// The winning op of each node and its softmax weight.
      Nodes: (NodeOp * float) list
      Expression: Expr
      Paper: string
      Latex: string }

/// A module's formula, its answer cells pooled as `pooling` says.
let formulaPooled (pooling: AnswerPooling) (moduleIndex: int) (kind: CellKind) (nodes: (NodeOp * float) list) =
    let e = simplify (ofCell kind.Arity (List.map fst nodes))
    { Module = moduleIndex; Kind = kind; Nodes = nodes; Expression = e
      Paper = renderModule Paper kind pooling e; Latex = renderModule Latex kind pooling e }

/// A module's formula in the paper's cell (a plain sum over the map).
let formula moduleIndex kind nodes = formulaPooled SpatialSum moduleIndex kind nodes

/// One formula per generic module, in the spec's order.
let extract (network: LnmnNetwork.LnmnNetwork) : ModuleFormula list =
    let pooling = defaultArg network.Spec.AnswerPooling SpatialSum
    AlphaReadout.read network
    |> List.groupBy (fun r -> r.Module)
    |> List.map (fun (m, nodes) ->
        formulaPooled pooling m nodes.Head.Kind [ for r in nodes -> r.Winner, List.max r.Weights ])

let private apply (op: NodeOp) (x: torch.Tensor) (y: torch.Tensor) =
    match op with
    | Min -> torch.minimum(x, y)
    | Max -> torch.maximum(x, y)
    | Sum -> x + y
    | Product -> x * y
    | Choose1 -> x + 0.0 * y
    | Choose2 -> 0.0 * x + y

/// Evaluates an expression on the cell inputs, normalising every node as the network does.
/// Inputs are channels-last and broadcastable: img (B, 1, H, W, D), maps (B, 1, H, W, 1),
/// txt (B, 1, 1, 1, D).
let rec evaluate (inputs: Map<Input, torch.Tensor>) (e: Expr) : torch.Tensor =
    match e with
    | Leaf input -> inputs.[input]
    | Node(op, x, y) -> Tensors.unitOrZero -1L (apply op (evaluate inputs x) (evaluate inputs y))
    | Chosen(kept, dropped) -> Tensors.unitOrZero -1L (evaluate inputs kept + 0.0 * evaluate inputs dropped)

/// One row per module: its formula and each node's winning op with its weight.
let table (formulas: ModuleFormula list) : Table.Table =
    let row (f: ModuleFormula) =
        let weights = f.Nodes |> List.map (fun (op, w) -> $"{NodeOp.name op} {100.0 * w:F0}%%") |> String.concat ", "
        [ Table.Number(float f.Module, 0); Table.Text(CellKind.name f.Kind); Table.Code f.Paper; Table.Text weights ]
    { Columns = [ "module"; "kind"; "formula"; "node winners (weight)" ]; Rows = List.map row formulas }

let markdown (formulas: ModuleFormula list) = Table.markdown (table formulas)
