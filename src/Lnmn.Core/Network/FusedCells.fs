/// Every generic cell of a network evaluated as one chain of nodes along a module axis of
/// k = all cells, instead of one chain per cell kind. With a the map read at the pointer, a1, a2
/// the two maps read by 4-input cells, I the img map and c the txt map:
///   pair node  (4-input cells only): n0 = O(a1, a2), one channel
///   image node (all cells): O(I, a) for 3-input cells, O(I, n0) for 4-input cells
///   text node  (all cells): O(image node, c), the last node
/// Each node is one `NodeOps.mixColumns` with its coefficients stacked over the cells. Cells keep
/// the groups' order (`CellKind.all`: attention cells first), so the output layers take a narrow
/// of the last node per role.
module Lnmn.Core.Network.FusedCells

open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Core.Network.CellGroup

/// What a forward computes once for all its steps from α and the output layers.
type Prepared =
    { Pair: NodeOps.Columns option
      Image: NodeOps.Columns
      Text: NodeOps.Columns
      /// Per group in order: its arity, cell count, and offset among the 4-input cells.
      Layout: (CellArity * int64 * int64) list
      /// Attention output layer over all attention cells: (k_att, map_dim), (k_att); None without any.
      Attention: (torch.Tensor * torch.Tensor) option
      /// Answer output layer over all answer cells: (k_ans, mem_dim, ·), (k_ans, mem_dim).
      Answer: (torch.Tensor * torch.Tensor) option
      /// The answer cells' Describe gate over all answer cells (`CellGroup.gateParameters`).
      AnswerGate: (torch.Tensor * torch.Tensor) option
      AnswerPooling: AnswerPooling
      /// The answer cells' arities, in order.
      AnswerArities: CellArity list
      Arithmetic: NodeOps.NodeArithmetic }

let private catRows (xs: torch.Tensor list) = match xs with [ x ] -> x | _ -> torch.cat(Array.ofList xs, 0L)

/// Coefficients of every node from the groups' α, computed in one softmax for all of them.
let prepare (evaluation: NodeOps.NodeEvaluation) (groups: CellGroup list) : Prepared =
    let fourInput = groups |> List.filter (fun g -> g.Kind.Arity = FourInput)
    let node (pick: CellGroup -> int) (gs: CellGroup list) = gs |> List.map (fun g -> g.Alpha.select(1L, int64 (pick g)))
    let lastNode (g: CellGroup) = CellKind.nodeCount g.Kind - 1
    let imageNode = node (fun g -> lastNode g - 1) groups
    let textNode = node lastNode groups
    let pairNode = node (fun _ -> 0) fourInput
    let weights = NodeOps.opWeights evaluation (catRows (imageNode @ textNode @ pairNode))
    let nodeMix = groups |> List.tryHead |> Option.map (fun g -> g.NodeMix) |> Option.defaultValue MixThenNormalise
    let k = int64 (groups |> List.sumBy (fun g -> g.Count))
    let rows start count = NodeOps.columnsOf nodeMix (weights.narrow(0L, start, count))
    let k4 = int64 (fourInput |> List.sumBy (fun g -> g.Count))
    let offsets = groups |> List.scan (fun offset g -> if g.Kind.Arity = FourInput then offset + int64 g.Count else offset) 0L
    let outputLayer role =
        match groups |> List.filter (fun g -> g.Kind.Role = role) with
        | [] -> None
        | gs -> Some(catRows [ for g in gs -> g.OutWeight ], catRows [ for g in gs -> g.OutBias ])
    { Pair = if k4 > 0L then Some(rows (2L * k) k4) else None
      Image = rows 0L k
      Text = rows k k
      Layout = List.map2 (fun (g: CellGroup) offset -> g.Kind.Arity, int64 g.Count, offset) groups (List.take groups.Length offsets)
      Attention = outputLayer Attention
      Answer = outputLayer Answer
      AnswerGate =
        match groups |> List.filter (fun g -> g.Kind.Role = Answer) |> List.choose (fun g -> g.Gate) with
        | [] -> None
        | gates -> Some(catRows (List.map fst gates), catRows (List.map snd gates))
      AnswerPooling = groups |> List.tryHead |> Option.map (fun g -> g.Pooling) |> Option.defaultValue SpatialSum
      AnswerArities = [ for g in groups do if g.Kind.Role = Answer then yield! List.replicate g.Count g.Kind.Arity ]
      Arithmetic = evaluation.Arithmetic }

/// Attention cells' logits (B, k_att, H, W) and answer cells' outputs (B, k_ans, mem_dim), each
/// None when there are no such cells.
let apply (prepared: Prepared) (inputs: CellInputs) =
    let map (a: torch.Tensor) = a.unsqueeze(1L).unsqueeze(-1L) // (B, 1, H, W, 1)
    let first = map inputs.Attention1
    let pair =
        match prepared.Pair, inputs.Attention2 with
        | Some columns, Some second -> Some(NodeOps.mixColumns prepared.Arithmetic columns first (map second)) // (B, k4, H, W, 1)
        | Some _, None -> invalidArg "inputs" "a 4-input cell needs two attention maps"
        | None, _ -> None
    let secondInput =
        match prepared.Layout, pair with
        | layout, None when layout |> List.forall (fun (arity, _, _) -> arity = ThreeInput) -> first
        | [ FourInput, _, _ ], Some n0 -> n0
        | layout, n0 ->
            let shape = first.shape
            let piece (arity, count: int64, offset) =
                match arity, n0 with
                | ThreeInput, _ -> first.expand(shape.[0], count, shape.[2], shape.[3], 1L)
                | FourInput, Some n -> n.narrow(1L, offset, count)
                | FourInput, None -> invalidArg "prepared" "4-input cells without a pair node"
            torch.cat(layout |> List.map piece |> Array.ofList, 1L)
    let image = inputs.Image.unsqueeze(1L) // (B, 1, H, W, D)
    let text = inputs.TextMap.unsqueeze(1L).unsqueeze(1L).unsqueeze(1L) // (B, 1, 1, 1, D)
    let node = NodeOps.mixColumns prepared.Arithmetic
    let imageNode = node prepared.Image image secondInput
    let attentionCount = prepared.Attention |> Option.map (fun (w, _) -> w.shape.[0]) |> Option.defaultValue 0L
    let composed () =
        let last = node prepared.Text imageNode text
        let role (r: CellRole) (layer: (torch.Tensor * torch.Tensor) option) start =
            let arities = match r with Answer -> prepared.AnswerArities | Attention -> []
            layer |> Option.map (fun (weight, bias) -> output prepared.AnswerPooling r arities prepared.AnswerGate weight bias inputs (last.narrow(1L, start, weight.shape.[0])))
        role Attention prepared.Attention 0L, role Answer prepared.Answer attentionCount
    match prepared.Arithmetic with
    | NodeOps.Composed -> composed ()
    | NodeOps.Kernel ->
        // The last node feeds only the output layers: `ReadoutKernel` computes what they read of it.
        let batch, height, width = first.shape.[0], first.shape.[2], first.shape.[3]
        let attentionWeights = prepared.Attention |> Option.map fst |> Option.defaultValue (torch.zeros(0L, imageNode.shape.[4]))
        let pooling = prepared.Answer |> Option.map (fun _ -> answerPooling prepared.AnswerPooling prepared.AnswerArities prepared.AnswerGate inputs)
        let weightings = pooling |> Option.map fst |> Option.defaultValue (torch.zeros(batch, 0L, height * width))
        let nodeMix, parameters = NodeOps.kernelOperands prepared.Text
        if ReadoutKernel.handles parameters imageNode text attentionWeights weightings then
            let dotted, sums = ReadoutKernel.readout (torch.get_num_threads ()) nodeMix parameters imageNode text attentionWeights weightings
            prepared.Attention |> Option.map (fun (_, bias) -> attentionLogits bias (dotted.view(batch, attentionCount, height, width))),
            Option.map2 (fun (weight, bias) (_, pooled) -> answerOutput weight bias inputs (pooled sums)) prepared.Answer pooling
        else composed ()
