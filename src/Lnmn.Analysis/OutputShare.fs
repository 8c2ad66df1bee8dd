/// How much of a node's output its winning op makes: p_w·‖op_w(x1, x2)‖ / Σ_j p_j·‖op_j(x1, x2)‖
/// per position (norms over channels, p = softmax(α)), averaged over questions, controller steps and
/// positions (a position where every op gives 0 counts as 1). A node can hold 99% of α on one op
/// and still take a third of its output from the others, when their inputs are larger (the image
/// beside a one-channel map); hard-max then removes that third. Measured on the mixture before
/// normalisation, through the reference forward.
module Lnmn.Analysis.OutputShare

open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Core.Network

type NodeShare =
    { /// Index into the spec's module list.
      Module: int
      Kind: CellKind
      Node: int
      Winner: NodeOp
      /// softmax(α) of the winner.
      AlphaShare: float
      OutputShare: float }

/// The six ops' outputs of one node, stacked on a new last-but-one axis: (…, 6, C).
let private ops (x1: torch.Tensor) (x2: torch.Tensor) =
    let both = torch.broadcast_tensors(x1, x2)
    let a, b = both.[0], both.[1]
    torch.stack([| torch.minimum(a, b); torch.maximum(a, b); a + b; a * b; a; b |], -2L)

/// Output share of the winner per cell (k) for one node mixing as `mix` says: p (k, 6), inputs
/// (B, k or 1, H, W, C or 1). A `NormaliseEachOp` node's ops enter at norm 1 (0 where an op is zero).
let nodeShares (mix: NodeMix) (p: torch.Tensor) (x1: torch.Tensor) (x2: torch.Tensor) =
    let raw = (Tensors.square (ops x1 x2)).sum(-1L).sqrt() // (B, k, H, W, 6)
    let norms = match mix with MixThenNormalise -> raw | NormaliseEachOp -> raw.gt(torch.zeros_like raw).to_type(raw.dtype)
    let weighted = norms * p.reshape(1L, p.shape.[0], 1L, 1L, 6L)
    let winner = p.argmax(-1L).reshape(1L, -1L, 1L, 1L, 1L).expand(weighted.shape.[0], -1L, weighted.shape.[2], weighted.shape.[3], 1L)
    let total = weighted.sum(-1L)
    // Where every op outputs 0 (an a-based node on the reference stack's zero map at step 1), the
    // soft and the hard-max node agree (both 0): counted as the winner's.
    let share = torch.where(total.gt(torch.zeros_like total), weighted.gather(-1L, winner).squeeze(-1L) / Tensors.withScalar 1e-30 total.clamp_min, torch.ones_like total)
    share.mean([| 0L; 2L; 3L |]) // (k)

/// Every node of every generic module on `batch`, ordered by module then node.
let measure (network: LnmnNetwork.LnmnNetwork) (batch: LnmnNetwork.Batch) : NodeShare list =
    use _ = torch.no_grad ()
    use _ = torch.NewDisposeScope()
    let groups = network.CellGroups
    // Per group, per node, per cell: the sum over steps of the shares, and the step count. Kept as
    // .NET floats: the forward frees each step's tensors when the step ends.
    let sums = groups |> List.map (fun g -> Array.init (CellKind.nodeCount g.Kind) (fun _ -> Array.zeroCreate<float> g.Count))
    let mutable steps = 0
    let observe (inputs: StepModules.StepInputs) =
        match inputs.Cells with
        | Some cells ->
            steps <- steps + 1
            for g, perNode in List.zip groups sums do
                let p = g.Alpha.softmax(-1L) // (k, nodes, 6)
                g.Nodes(cells, NodeOps.NodeEvaluation.soft)
                |> List.iteri (fun i (x1, x2, _) ->
                    let shares = nodeShares g.NodeMix (p.select(1L, int64 i)) x1 x2
                    for cell in 0 .. g.Count - 1 do perNode.[i].[cell] <- perNode.[i].[cell] + (shares.[int64 cell].item<float32>() |> float))
        | None -> ()
    network.ObservedForward(batch, NodeOps.NodeEvaluation.soft, observe) |> ignore
    let layout, _ = LnmnNetwork.groupModules network.Spec.Modules
    [ for (_, indices), g, perNode in List.zip3 layout groups sums do
        let p = g.Alpha.softmax(-1L)
        for cell, moduleIndex in List.indexed indices do
            for node in 0 .. perNode.Length - 1 do
                let weights = p.[int64 cell, int64 node]
                let winner = weights.argmax().item<int64>() |> int
                yield
                    { Module = moduleIndex; Kind = g.Kind; Node = node; Winner = NodeOp.all.[winner]
                      AlphaShare = weights.[int64 winner].item<float32>() |> float
                      OutputShare = perNode.[node].[cell] / float (max steps 1) } ]
    |> List.sortBy (fun s -> s.Module, s.Node)

let table (shares: NodeShare list) : Table.Table =
    { Columns = [ "module"; "kind"; "node"; "winner"; "α share (%)"; "output share (%)" ]
      Rows =
        [ for s in shares ->
            [ Table.Number(float s.Module, 0); Table.Text(CellKind.name s.Kind); Table.Number(float s.Node, 0); Table.Text(NodeOp.name s.Winner)
              Table.Number(100.0 * s.AlphaShare, 1)
              (let c = Table.Number(100.0 * s.OutputShare, 1) in if s.OutputShare < 0.9 then Table.Bold c else c) ] ] }

let markdown (shares: NodeShare list) = Table.markdown (table shares)
