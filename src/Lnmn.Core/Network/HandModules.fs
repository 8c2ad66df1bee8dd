/// Stack-NMN's hand-designed modules (Hu et al. 2018), the baseline LNMN's cells replace. Each
/// reads and moves the stack pointer itself (Find pushes, And pops two and pushes one, Describe
/// pops), and each has its own weights. kb is the knowledge base shared with the generic cells;
/// c is the controller's textual parameter c_t.
module Lnmn.Core.Network.HandModules

open TorchSharp
open Lnmn.Core.Specs

/// Stack (B, L, H, W), pointer (B, L), knowledge kb (B, H, W, kb_dim) channels last, text c_t
/// (B, q), memory (B, mem_dim).
type HandInputs =
    { Stack: torch.Tensor
      Pointer: torch.Tensor
      Knowledge: torch.Tensor
      Text: torch.Tensor
      Memory: torch.Tensor }

/// Memory None: the module writes no memory (it counts as zero in the weighted sum).
type HandOutputs =
    { Stack: torch.Tensor
      Pointer: torch.Tensor
      Memory: torch.Tensor option }

/// Σ_hw softmax_hw(map) · kb: (B, kb_dim) from kb (B, H, W, kb_dim) and a map (B, H, W).
let softmaxPool (knowledge: torch.Tensor) (map: torch.Tensor) =
    let batch = map.shape.[0]
    let weights = map.reshape(batch, -1L).softmax(-1L)
    torch.einsum("bn,bnc->bc", weights, knowledge.reshape(batch, weights.shape.[1], -1L))

/// Pointer up, the map written there.
let push (stack: torch.Tensor) (pointer: torch.Tensor) (map: torch.Tensor) : HandOutputs =
    let p = Stack.push pointer
    { Stack = Stack.write stack p map; Pointer = p; Memory = None }

/// Reads the top two maps (second = top), pops both and pushes `combine first second`.
let combineTopTwo (combine: torch.Tensor -> torch.Tensor -> torch.Tensor) (stack: torch.Tensor) (pointer: torch.Tensor) : HandOutputs =
    let second = Stack.read stack pointer
    let p = Stack.pop pointer
    { Stack = Stack.write stack p (combine (Stack.read stack p) second); Pointer = p; Memory = None }

let private intersect (a: torch.Tensor) (b: torch.Tensor) = torch.minimum(a, b)
let private union (a: torch.Tensor) (b: torch.Tensor) = torch.maximum(a, b)

[<AbstractClass>]
type HandLayer(kind: HandModule) =
    inherit torch.nn.Module($"hand_{HandModule.name kind}")
    member _.Kind = kind
    abstract Apply: HandInputs -> HandOutputs

/// Find, Filter, Transform: map = conv1x1(l2norm(kb ⊙ W c [⊙ pooled kb])).
type private AttentionLayer(kind: HandModule, dims: ModelDims) as this =
    inherit HandLayer(kind)
    let text = torch.nn.Linear(int64 (ModelDims.questionDim dims), int64 dims.KbDim)
    let conv = torch.nn.Linear(int64 dims.KbDim, 1L) // a 1×1 conv on channels-last maps
    do
        this.register_module("text", text)
        this.register_module("conv", conv)

    /// (B, H, W); extra (B, kb_dim) multiplies kb too.
    member _.Map(inputs: HandInputs, extra: torch.Tensor option) =
        let mapped = text.call(inputs.Text)
        let scale = match extra with Some e -> mapped * e | None -> mapped
        conv.call(Tensors.l2Normalize -1L (inputs.Knowledge * scale.unsqueeze(1L).unsqueeze(1L))).squeeze(-1L)

    override this.Apply(inputs: HandInputs) =
        match kind with
        | Find -> push inputs.Stack inputs.Pointer (this.Map(inputs, None))
        | Filter ->
            let found = push inputs.Stack inputs.Pointer (this.Map(inputs, None))
            combineTopTwo intersect found.Stack found.Pointer
        | Transform ->
            let pooled = softmaxPool inputs.Knowledge (Stack.read inputs.Stack inputs.Pointer)
            { Stack = Stack.write inputs.Stack inputs.Pointer (this.Map(inputs, Some pooled)); Pointer = inputs.Pointer; Memory = None }
        | other -> invalidArg "kind" $"{HandModule.name other} is not an attention module"

/// And (min), Or (max): no weights.
type private CombineLayer(kind: HandModule) =
    inherit HandLayer(kind)
    override _.Apply(inputs: HandInputs) =
        match kind with
        | And -> combineTopTwo intersect inputs.Stack inputs.Pointer
        | Or -> combineTopTwo union inputs.Stack inputs.Pointer
        | other -> invalidArg "kind" $"{HandModule.name other} is not a combining module"

/// Scene: one learned value everywhere, pushed.
type private SceneLayer() as this =
    inherit HandLayer(Scene)
    let value = torch.nn.Parameter(torch.zeros(1L))
    do this.register_parameter("value", value)
    override _.Apply(inputs: HandInputs) =
        let s = inputs.Stack.shape
        push inputs.Stack inputs.Pointer (value.reshape(1L, 1L, 1L).expand(s.[0], s.[2], s.[3]))

/// DescribeOne / DescribeTwo: mem = Linear([c ; mem ; l2norm(W c ⊙ pooled kb (⊙ pooled kb))]), the
/// l2norm left out with `Unnormalised`; the maps read are popped.
type private DescribeLayer(kind: HandModule, dims: ModelDims, readout: DescribeReadout) as this =
    inherit HandLayer(kind)
    let q = ModelDims.questionDim dims
    let text = torch.nn.Linear(int64 q, int64 dims.KbDim)
    let memory = torch.nn.Linear(int64 (q + dims.MemDim + dims.KbDim), int64 dims.MemDim)
    do
        this.register_module("text", text)
        this.register_module("memory", memory)

    override _.Apply(inputs: HandInputs) =
        let pool = softmaxPool inputs.Knowledge
        let top = Stack.read inputs.Stack inputs.Pointer
        let below = Stack.pop inputs.Pointer
        let pooled, pointer =
            match kind with
            | DescribeOne -> pool top, below
            | DescribeTwo -> pool (Stack.read inputs.Stack below) * pool top, Stack.pop below
            | other -> invalidArg "kind" $"{HandModule.name other} is not a describing module"
        let gated = text.call(inputs.Text) * pooled
        let features = match readout with Normalised -> Tensors.l2Normalize -1L gated | Unnormalised -> gated
        { Stack = inputs.Stack; Pointer = pointer
          Memory = Some(memory.call(torch.cat([| inputs.Text; inputs.Memory; features |], -1L))) }

/// The layer for one hand-designed module; `readout` is Describe's (the others ignore it).
let create (dims: ModelDims) (readout: DescribeReadout) (kind: HandModule) : HandLayer =
    match kind with
    | Find | Filter | Transform -> new AttentionLayer(kind, dims)
    | And | Or -> new CombineLayer(kind)
    | Scene -> new SceneLayer()
    | DescribeOne | DescribeTwo -> new DescribeLayer(kind, dims, readout)
