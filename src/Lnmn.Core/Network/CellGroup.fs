/// k generic cells of one kind evaluated together: cells of a kind see the same inputs at a step,
/// so the shared terms are computed once and the k mixtures run as one op along a module axis.
///
/// Per cell, with I the img map, c the txt map broadcast over H×W and a, a1, a2 stack reads:
///   3 inputs: n0 = O(I, a);  n1 = O(n0, c)
///   4 inputs: n0 = O(a1, a2); n1 = O(I, n0); n2 = O(n1, c)
/// In 4-input cells n0 has one channel, so its L2 normalisation is the sign of the mixture: kept,
/// as in the authors' code.
/// Attention cells: 1×1 conv (map_dim → 1) of the last node, raw logits.
/// Answer cells: Linear([c ; mem_{t−1} ; Σ_{H,W} last node] → mem_dim), c = W1·c_t the txt vector
/// (paper Table 6: W2[Σ …, W1 c_txt, f_mem]); `AnswerPooling` says how the sum is taken.
module Lnmn.Core.Network.CellGroup

open TorchSharp
open Lnmn.Core.Specs

/// What every cell sees at a step. Maps are (B, H, W); img (B, H, W, D), channels last; txt (B, D);
/// memory (B, mem_dim); the controller's text vector c_t (B, question dim), which only
/// `AttentionWeightedAndDescribe`'s gate reads.
type CellInputs =
    { Image: torch.Tensor
      TextMap: torch.Tensor
      Memory: torch.Tensor
      Attention1: torch.Tensor
      Attention2: torch.Tensor option
      Question: torch.Tensor }

/// The output layer's (weight, bias) for k cells of a kind: attention (k, map_dim), (k); answer
/// (k, mem_dim, map_dim + mem_dim + pooled), (k, mem_dim), pooled = `AnswerPooling.width`.
let outputParameters (pooling: AnswerPooling) (kind: CellKind) (count: int) (dims: ModelDims) =
    let k, mapDim = int64 count, int64 dims.MapDim
    let answerInputs = dims.MapDim + dims.MemDim + AnswerPooling.width pooling dims.MapDim
    match kind.Role with
    | Attention -> Tensors.uniformParameter [| k; mapDim |] dims.MapDim, Tensors.uniformParameter [| k |] dims.MapDim
    | Answer ->
        Tensors.uniformParameter [| k; int64 dims.MemDim; int64 answerInputs |] answerInputs,
        Tensors.uniformParameter [| k; int64 dims.MemDim |] answerInputs

/// Whether cells of `role` pooling as `pooling` have a Describe gate: answer cells of
/// `AttentionWeightedAndDescribe`.
let hasGate (pooling: AnswerPooling) (role: CellRole) = pooling = AttentionWeightedAndDescribe && role = Answer

/// The Describe gate of `hasGate` cells, W_g (k, map_dim, question dim) and b_g (k, map_dim); None
/// for other cells.
let gateParameters (pooling: AnswerPooling) (kind: CellKind) (count: int) (dims: ModelDims) =
    if hasGate pooling kind.Role then
        let k, q = int64 count, ModelDims.questionDim dims
        Some(Tensors.uniformParameter [| k; int64 dims.MapDim; int64 q |] q, Tensors.uniformParameter [| k; int64 dims.MapDim |] q)
    else None

/// The authors' code for the output layers of `outputParameters`: the attention conv (map_dim → 1)
/// xavier-uniform with an N(0,1) bias; the answer linear xavier-normal with a zero bias.
let initialiseOutputAsAuthors (role: CellRole) (weight: torch.Tensor) (bias: torch.Tensor) =
    use _ = torch.no_grad ()
    for cell in 0L .. weight.shape.[0] - 1L do
        match role with
        | Attention -> torch.nn.init.xavier_uniform_ (weight.[cell].unsqueeze(0L)) |> ignore
        | Answer -> torch.nn.init.xavier_normal_ weight.[cell] |> ignore
    match role with
    | Attention -> torch.nn.init.normal_(bias, 0.0, 1.0) |> ignore
    | Answer -> torch.nn.init.zeros_ bias |> ignore

/// The answer cells' pooling of the last node n (B, k, H, W, D) as S position weightings s
/// (B, S, H·W) and what follows the sums Σ_p s_ip·n_p (B, k, S, D): the pooled features
/// (B, k, pooled). `arities` are the k cells' (`GatedProduct` and `AttentionWeightedAndDescribe`
/// read them); `gate` is `gateParameters`' (k cells), which only `AttentionWeightedAndDescribe` reads.
let answerPooling (pooling: AnswerPooling) (arities: CellArity list) (gate: (torch.Tensor * torch.Tensor) option) (inputs: CellInputs) : torch.Tensor * (torch.Tensor -> torch.Tensor) =
    let a = inputs.Attention1 // (B, H, W)
    let batch, positions = a.shape.[0], a.shape.[1] * a.shape.[2]
    let softmaxOf (map: torch.Tensor) = map.reshape(batch, 1L, -1L).softmax(-1L)
    let scaled (x: torch.Tensor) = Tensors.withScalar (float positions) (fun p -> x * p)
    let first (sums: torch.Tensor) = sums.select(2L, 0L)
    match pooling with
    | SpatialSum -> torch.ones([| batch; 1L; positions |], device = a.device), first
    | AttentionWeighted -> scaled (softmaxOf a), first
    | AttentionSquared -> softmaxOf a, (fun sums -> let m = first sums in scaled (m * m))
    | AttentionWeightedAndSquared -> softmaxOf a, (fun sums -> let m = first sums in torch.cat([| scaled m; scaled (m * m) |], -1L))
    | GatedProduct ->
        let gated (product: torch.Tensor) =
            Tensors.l2Normalize -1L (inputs.TextMap.unsqueeze(1L).expand(batch, product.shape.[1], -1L) * product)
        match inputs.Attention2 with
        | Some second when List.contains FourInput arities ->
            let fourInput = torch.tensor([| for arity in arities -> arity = FourInput |], device = a.device).reshape(1L, -1L, 1L)
            torch.cat([| softmaxOf a; softmaxOf second |], 1L),
            (fun sums -> let m1 = first sums in gated (torch.where(fourInput, m1 * sums.select(2L, 1L), m1)))
        | None when List.contains FourInput arities -> invalidArg "inputs" "a 4-input cell needs two attention maps"
        | _ -> softmaxOf a, (fun sums -> gated (first sums))
    | AttentionWeightedAndDescribe ->
        let weight, bias = match gate with Some g -> g | None -> invalidArg "gate" "AttentionWeightedAndDescribe needs the answer cells' gate"
        let weights = softmaxOf a
        let pooledImage = torch.einsum("bp,bpd->bd", weights.squeeze(1L), inputs.Image.reshape(batch, positions, -1L)).unsqueeze(1L) // (B, 1, D)
        let g = torch.einsum("bq,kdq->bkd", inputs.Question, weight) + bias.unsqueeze(0L) // (B, k, D)
        let fourInput = torch.tensor([| for arity in arities -> arity = FourInput |], device = a.device).reshape(1L, -1L, 1L)
        let describe = g * torch.where(fourInput, pooledImage * pooledImage, pooledImage)
        scaled weights, (fun sums -> torch.cat([| first sums; scaled describe |], -1L))

/// Attention cells' logits (B, k, H, W) from w_k·n (B, k, H, W) and the bias (k).
let attentionLogits (bias: torch.Tensor) (dotted: torch.Tensor) = dotted + bias.reshape(1L, -1L, 1L, 1L)

/// Answer cells' outputs (B, k, mem_dim) from their pooled features (B, k, pooled).
let answerOutput (weight: torch.Tensor) (bias: torch.Tensor) (inputs: CellInputs) (pooled: torch.Tensor) =
    let batch, k = pooled.shape.[0], pooled.shape.[1]
    let perCell (x: torch.Tensor) = x.unsqueeze(1L).expand(batch, k, -1L)
    let features = torch.cat([| perCell inputs.TextMap; perCell inputs.Memory; pooled |], -1L)
    torch.einsum("bki,koi->bko", features, weight) + bias.unsqueeze(0L)

/// The output layer on the last node (B, k, H, W, D) of k cells of one role, `arities` the k cells'
/// arities in order and `gate` their Describe gate (as `answerPooling` reads them). Attention cells:
/// (B, k, H, W) logits. Answer cells: (B, k, mem_dim).
let output (pooling: AnswerPooling) (role: CellRole) (arities: CellArity list) (gate: (torch.Tensor * torch.Tensor) option) (weight: torch.Tensor) (bias: torch.Tensor) (inputs: CellInputs) (last: torch.Tensor) =
    match role with
    | Attention -> attentionLogits bias (torch.einsum("bkhwd,kd->bkhw", last, weight))
    | Answer ->
        let weightings, pooled = answerPooling pooling arities gate inputs
        let s = last.shape
        let sums =
            match pooling with
            | SpatialSum -> last.sum([| 2L; 3L |]).unsqueeze(2L)
            | _ -> (last.unsqueeze(2L) * weightings.reshape(s.[0], 1L, -1L, s.[2], s.[3], 1L)).sum([| 3L; 4L |])
        answerOutput weight bias inputs (pooled sums)

type CellGroup(kind: CellKind, count: int, dims: ModelDims, pooling: AnswerPooling, nodeMix: NodeMix) as this =
    inherit torch.nn.Module($"cells_{CellKind.name kind}")
    let nodes = CellKind.nodeCount kind
    let k = int64 count
    let alpha = torch.nn.Parameter(torch.randn([| k; int64 nodes; 6L |]))
    let outWeight, outBias = outputParameters pooling kind count dims
    let gate = gateParameters pooling kind count dims
    do
        this.register_parameter("alpha", alpha)
        this.register_parameter("out_weight", outWeight)
        this.register_parameter("out_bias", outBias)
        gate |> Option.iter (fun (weight, bias) ->
            this.register_parameter("gate_weight", weight)
            this.register_parameter("gate_bias", bias))

    new(kind, count, dims, pooling) = new CellGroup(kind, count, dims, pooling, MixThenNormalise)
    new(kind, count, dims) = new CellGroup(kind, count, dims, SpatialSum)

    member _.Kind = kind
    member _.Count = count
    member _.Pooling = pooling
    member _.NodeMix = nodeMix
    /// (k, nodes, 6).
    member _.Alpha = alpha
    member _.OutWeight = outWeight
    member _.OutBias = outBias
    /// The Describe gate (W_g, b_g) of `AttentionWeightedAndDescribe`'s answer cells; None otherwise.
    member _.Gate = gate |> Option.map (fun (weight, bias) -> weight :> torch.Tensor, bias :> torch.Tensor)

    member _.InitialiseAsAuthors() = initialiseOutputAsAuthors kind.Role outWeight outBias

    /// Every node's inputs and output (x1, x2, out), in node order, for every cell: inputs
    /// broadcastable to the output (B, k, H, W, D or 1).
    member _.Nodes(inputs: CellInputs, evaluation: NodeOps.NodeEvaluation) : (torch.Tensor * torch.Tensor * torch.Tensor) list =
        let weights = NodeOps.opWeights evaluation alpha // (k, nodes, 6)
        // The reference path stays composed.
        let node i x1 x2 = x1, x2, NodeOps.mixColumns NodeOps.Composed (NodeOps.columnsOf nodeMix (weights.select(1L, int64 i))) x1 x2
        let out (_, _, y) = y
        let asCells (x: torch.Tensor) = x.unsqueeze(1L) // module axis
        let map (a: torch.Tensor) = a.unsqueeze(-1L) |> asCells // (B, 1, H, W, 1)
        let image = asCells inputs.Image // (B, 1, H, W, D)
        let text = inputs.TextMap.unsqueeze(1L).unsqueeze(1L) |> asCells // (B, 1, 1, 1, D)
        match kind.Arity, inputs.Attention2 with
        | ThreeInput, _ ->
            let n0 = node 0 image (map inputs.Attention1)
            [ n0; node 1 (out n0) text ]
        | FourInput, Some second ->
            let n0 = node 0 (map inputs.Attention1) (map second)
            let n1 = node 1 image (out n0)
            [ n0; n1; node 2 (out n1) text ]
        | FourInput, None -> invalidArg "inputs" "a 4-input cell needs two attention maps"

    /// The last node's output for every cell: (B, k, H, W, D).
    member this.LastNode(inputs: CellInputs, evaluation: NodeOps.NodeEvaluation) : torch.Tensor =
        let _, _, last = List.last (this.Nodes(inputs, evaluation))
        last

    /// Attention cells: (B, k, H, W) logits. Answer cells: (B, k, mem_dim).
    member this.Forward(inputs: CellInputs, evaluation: NodeOps.NodeEvaluation) : torch.Tensor =
        output pooling kind.Role (List.replicate count kind.Arity) this.Gate outWeight outBias inputs (this.LastNode(inputs, evaluation))
