/// Integrated gradients of α (paper Table 5): how much each module's α values contribute to the
/// probability of the correct answer, against a zero baseline (α = 0: every node a uniform mix).
///   IG_i = α_i · (1/n) Σ_{k=1..n} ∂F(k/n · α)/∂α_i,   F(α) = Σ_examples p(correct answer)
/// Completeness: Σ_i IG_i → F(α) − F(0) as n grows (a right Riemann sum, error O(1/n)).
module Lnmn.Analysis.IntegratedGradients

open TorchSharp
open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Network
open Lnmn.Core.Training

/// Σ p(correct answer) over the batches, with α as it is now.
let correctProbability (network: LnmnNetwork.LnmnNetwork) (batches: Steps.LabelledBatch list) =
    batches
    |> List.map (fun b ->
        let logits = network.Forward(b.Input, NodeOps.NodeEvaluation.soft).Logits
        logits.softmax(-1L).gather(1L, b.Answers.unsqueeze(1L)).sum())
    |> List.reduce (+)

/// Attributions with α's shapes, one tensor per cell group (k, nodes, 6), in `CellGroups` order.
/// α is restored afterwards; the weights are never changed.
let attributions (network: LnmnNetwork.LnmnNetwork) (batches: Steps.LabelledBatch list) (steps: int) : torch.Tensor list =
    let alphas = network.AlphaParameters()
    let original = alphas |> List.map (fun a -> a.detach().clone())
    let weights = network.WeightParameters()
    for w in weights do w.requires_grad <- false
    let sums = original |> List.map torch.zeros_like
    try
        for k in 1 .. steps do
            use _ = torch.NewDisposeScope()
            do
                use _ = torch.no_grad ()
                List.iter2 (fun (a: Modules.Parameter) (o: torch.Tensor) -> a.copy_(o * (float k / float steps)) |> ignore) alphas original
            let grads = torch.autograd.grad([| correctProbability network batches |], alphas |> List.map (fun a -> a :> torch.Tensor) |> Array.ofList)
            List.iter2 (fun (s: torch.Tensor) (g: torch.Tensor) -> s.add_(g) |> ignore) sums (List.ofSeq grads)
    finally
        use _ = torch.no_grad ()
        List.iter2 (fun (a: Modules.Parameter) (o: torch.Tensor) -> a.copy_(o) |> ignore) alphas original
        for w in weights do w.requires_grad <- true
    List.map2 (fun (o: torch.Tensor) (s: torch.Tensor) -> o * s / float steps) original sums

/// The same attributions summed batch by batch (IG is linear in F, so this equals one call on all
/// the batches, with one batch's graph in memory at a time).
let attributionsOver (network: LnmnNetwork.LnmnNetwork) (batches: seq<Steps.LabelledBatch>) (steps: int) : torch.Tensor list =
    batches
    |> Seq.map (fun b -> attributions network [ b ] steps |> List.map (fun t -> t.detach()))
    |> Seq.reduce (List.map2 (+))

type ModuleAttribution =
    { /// Index into the spec's module list.
      Module: int
      Kind: CellKind
      /// Summed over the module's nodes, in `NodeOp.all` order (paper Table 5).
      PerOp: float list }

/// Per generic module, in spec order: the attributions of its six α values summed over its nodes.
let byModule (network: LnmnNetwork.LnmnNetwork) (perGroup: torch.Tensor list) : ModuleAttribution list =
    let layout, _ = LnmnNetwork.groupModules network.Spec.Modules
    List.map2
        (fun (kind, indices: int list) (t: torch.Tensor) ->
            let perCell = t.sum(1L).cpu().to_type(torch.float64).contiguous().data<float>().ToArray()
            indices |> List.mapi (fun cell m -> { Module = m; Kind = kind; PerOp = List.init 6 (fun op -> perCell.[cell * 6 + op]) }))
        layout perGroup
    |> List.concat
    |> List.sortBy (fun a -> a.Module)

/// Paper Table 5: one row per module, one column per op.
let table (rows: ModuleAttribution list) : Table.Table =
    { Columns = [ "module"; "kind" ] @ List.map NodeOp.name NodeOp.all
      Rows =
        [ for r in rows ->
            [ Table.Number(float r.Module, 0); Table.Text(CellKind.name r.Kind) ]
            @ List.map Table.Scientific r.PerOp ] }
