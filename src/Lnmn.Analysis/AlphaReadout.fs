/// What each learned module's nodes compute: softmax(α) per node, in the spec's module order,
/// with the winning op and its weight (how close to one-hot the node is).
module Lnmn.Analysis.AlphaReadout

open TorchSharp
open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Network

type NodeReadout =
    { /// Index into the spec's module list.
      Module: int
      Kind: CellKind
      Node: int
      /// softmax(α), in `NodeOp.all` order.
      Weights: float list
      Winner: NodeOp }

let private ofGroup (moduleIndices: int list) (group: CellGroup.CellGroup) =
    use _ = torch.no_grad ()
    let weights = group.Alpha.softmax(-1L).cpu().to_type(torch.float64).contiguous().data<float>().ToArray()
    let nodes = CellKind.nodeCount group.Kind
    [ for cell, moduleIndex in List.indexed moduleIndices do
        for node in 0 .. nodes - 1 do
            let w = List.init 6 (fun op -> weights.[(cell * nodes + node) * 6 + op])
            { Module = moduleIndex; Kind = group.Kind; Node = node; Weights = w
              Winner = NodeOp.all.[w |> List.indexed |> List.maxBy snd |> fst] } ]

/// Every node of every generic module, ordered by module then node.
let read (network: LnmnNetwork.LnmnNetwork) : NodeReadout list =
    let layout, _ = LnmnNetwork.groupModules network.Spec.Modules
    List.map2 (fun (_, indices) group -> ofGroup indices group) layout network.CellGroups
    |> List.concat
    |> List.sortBy (fun r -> r.Module, r.Node)

/// The network's architecture as data: each generic cell's nodes, softmax(α) and the winning op.
let genotype (network: LnmnNetwork.LnmnNetwork) : Genotype =
    { Modules = network.Spec.Modules
      Cells =
        read network
        |> List.groupBy (fun r -> r.Module, r.Kind)
        |> List.map (fun ((m, kind), nodes) -> { Module = m; Kind = kind; Nodes = [ for r in nodes -> { Op = r.Winner; Weights = r.Weights } ] }) }

/// One row per node, op weights as percentages, the winner in bold.
let table (readouts: NodeReadout list) : Table.Table =
    let row (r: NodeReadout) =
        [ Table.Number(float r.Module, 0); Table.Text(CellKind.name r.Kind); Table.Number(float r.Node, 0) ]
        @ List.map2 (fun op w -> let c = Table.Number(100.0 * w, 1) in if op = r.Winner then Table.Bold c else c) NodeOp.all r.Weights
    { Columns = [ "module"; "kind"; "node" ] @ List.map NodeOp.name NodeOp.all; Rows = List.map row readouts }

let markdown (readouts: NodeReadout list) = Table.markdown (table readouts)

/// Nodes per winning op for each cell kind (the search's op histogram).
let histogram (readouts: NodeReadout list) =
    readouts
    |> List.groupBy (fun r -> r.Kind)
    |> List.map (fun (kind, rs) -> kind, NodeOp.all |> List.map (fun op -> op, rs |> List.filter (fun r -> r.Winner = op) |> List.length))
