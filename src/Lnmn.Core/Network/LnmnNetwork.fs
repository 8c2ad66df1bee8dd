/// The whole network, compiled from a `ModelSpec`: question encoder, controller, shared kb / img /
/// txt projections, the cell groups, the soft stack with its pointer, answer memory, classifier.
module Lnmn.Core.Network.LnmnNetwork

open TorchSharp
open Lnmn.Core
open Lnmn.Core.Specs

type private Layer = torch.nn.Module<torch.Tensor, torch.Tensor>

/// One batch of questions with their image features.
type Batch =
    { /// (B, S) int64, 0 = padding.
      Tokens: torch.Tensor
      /// (B) int64.
      Lengths: torch.Tensor
      /// (B, C, H, W) float32.
      Features: torch.Tensor }

/// The logits and what analysis needs to look inside a forward pass.
type ForwardResult =
    { /// (B, answers).
      Logits: torch.Tensor
      /// (B, T, M) w(t), modules in the spec's order.
      ModuleWeights: torch.Tensor
      /// (B, T, S).
      WordAttention: torch.Tensor
      /// (B, T, L) stack pointer after each step.
      Pointers: torch.Tensor
      /// (B, T, H, W) the map under the pointer after each step.
      AttentionMaps: torch.Tensor }

/// Where each spec module lands when the groups' outputs are concatenated (groups in
/// `CellKind.all` order, then NoOps): returns (kind, spec indices) per group and the NoOp indices.
let groupModules (modules: ModuleSpec list) =
    let indexed = List.indexed modules
    let groups =
        CellKind.all
        |> List.choose (fun kind ->
            match indexed |> List.filter (fun (_, m) -> m = Generic kind) |> List.map fst with
            | [] -> None
            | indices -> Some(kind, indices))
    let noOps = indexed |> List.filter (fun (_, m) -> m = NoOp) |> List.map fst
    groups, noOps

/// Concatenation cells grouped as `groupModules` groups generic cells: (kind, spec indices) per group.
let concatModules (modules: ModuleSpec list) =
    CellKind.all
    |> List.choose (fun kind ->
        match modules |> List.indexed |> List.filter (fun (_, m) -> m = Concat kind) |> List.map fst with
        | [] -> None
        | indices -> Some(kind, indices))

/// Hand-designed modules with their spec indices.
let handModules (modules: ModuleSpec list) =
    modules |> List.indexed |> List.choose (fun (i, m) -> match m with Hand h -> Some(h, i) | _ -> None)

type LnmnNetwork(spec: ModelSpec) as this =
    inherit torch.nn.Module("lnmn")
    let d = spec.Dims
    let q = ModelDims.questionDim d
    let groupLayout, noOpIndices = groupModules spec.Modules
    let encoder = new QuestionEncoder.QuestionEncoder(d.Vocabulary, d.EmbedDim, d.LstmHidden)
    let controller = new Controller.Controller(d.Steps, q, spec.Modules.Length)
    let kb =
        torch.nn.Sequential(
            ("conv1", torch.nn.Conv2d(int64 (d.InputChannels + PositionMap.channels), int64 d.KbDim, 1L) :> Layer),
            ("elu", torch.nn.ELU() :> Layer),
            ("conv2", torch.nn.Conv2d(int64 d.KbDim, int64 d.KbDim, 1L) :> Layer))
    // The img and txt maps only cells use (Stack-NMN's modules read kb and c_t themselves).
    let projections =
        if spec.Modules |> List.exists (function Generic _ | Concat _ -> true | NoOp | Hand _ -> false) then
            Some(torch.nn.Conv2d(int64 d.KbDim, int64 d.MapDim, 1L), torch.nn.Linear(int64 q, int64 d.MapDim))
        else None
    let groups = groupLayout |> List.map (fun (kind, indices) -> new CellGroup.CellGroup(kind, indices.Length, d, defaultArg spec.AnswerPooling SpatialSum, defaultArg spec.NodeMix MixThenNormalise))
    let cellGroups = torch.nn.ModuleList<CellGroup.CellGroup>(Array.ofList groups)
    let concatLayout = concatModules spec.Modules
    let concats = concatLayout |> List.map (fun (kind, indices) -> new ConcatCells.ConcatGroup(kind, indices.Length, d))
    let handLayout = handModules spec.Modules
    let hands = handLayout |> List.map (fst >> HandModules.create d (defaultArg spec.DescribeReadout Normalised))
    let classifier =
        torch.nn.Sequential(
            ("hidden", torch.nn.Linear(int64 (q + d.MemDim), 512L) :> Layer),
            ("elu", torch.nn.ELU() :> Layer),
            ("out", torch.nn.Linear(512L, int64 d.Answers) :> Layer))
    // Column j of the concatenated module outputs is spec module concatOrder.[j]: generic cells,
    // concatenation cells, hand-designed modules, NoOps.
    let concatOrder =
        (groupLayout |> List.collect snd) @ (concatLayout |> List.collect snd) @ (handLayout |> List.map snd) @ noOpIndices
        |> List.map int64 |> Array.ofList
    let positionMap = PositionMap.create d.GridHeight d.GridWidth
    let stepModules: StepModules.StepModules =
        { Spec = spec; Groups = groups; Concats = concats; Hands = hands; NoOps = noOpIndices.Length }
    do
        this.register_module("encoder", encoder)
        this.register_module("controller", controller)
        this.register_module("kb", kb)
        match projections with
        | Some(imageProjection, textProjection) ->
            this.register_module("image_projection", imageProjection)
            this.register_module("text_projection", textProjection)
        | None -> ()
        this.register_module("cell_groups", cellGroups)
        this.register_module("concat_groups", torch.nn.ModuleList<ConcatCells.ConcatGroup>(Array.ofList concats))
        this.register_module("hand_modules", torch.nn.ModuleList<HandModules.HandLayer>(Array.ofList hands))
        this.register_module("classifier", classifier)
        this.register_buffer("position_map", positionMap, persistent = false)

    member _.Spec = spec
    member _.CellGroups = groups

    /// α of every cell: the architecture parameters, optimised apart from the weights.
    member _.AlphaParameters() : Modules.Parameter list = groups |> List.map (fun g -> g.Alpha)

    /// Every parameter that is not α.
    member this.WeightParameters() : Modules.Parameter list =
        let alphas = groups |> List.map (fun g -> g.Alpha.Handle) |> set
        this.parameters() |> Seq.filter (fun p -> not (alphas.Contains p.Handle)) |> List.ofSeq

    /// The authors' code's initialisation of every weight (α and embeddings keep theirs).
    member this.InitialiseAsAuthors() =
        Initialisation.authorsLayers this
        controller.InitialiseAsAuthors()
        for g in groups do g.InitialiseAsAuthors()
        for c in concats do c.InitialiseAsAuthors()

    /// The forward pass around a step function: encoder, kb, controller, the stack's start, the
    /// records and the classifier. `step` combines the modules at one step.
    member private this.Run(batch: Batch, step: StepModules.StepInputs -> StepModules.StepOutputs) : ForwardResult =
        let B = batch.Tokens.shape.[0]
        let device = batch.Features.device
        let H, W, L = int64 d.GridHeight, int64 d.GridWidth, int64 d.StackLength
        let encoded = encoder.Encode(batch.Tokens, batch.Lengths)
        let valid = Tensors.lengthMask batch.Lengths batch.Tokens.shape.[1]
        let position = this.get_buffer("position_map").unsqueeze(0L).expand(B, -1L, -1L, -1L)
        let knowledge = kb.call(torch.cat([| batch.Features; position |], 1L))
        let cellInput (x: torch.Tensor) = match spec.CellInputs with Some UnitNorm -> Tensors.l2Normalize -1L x | Some Raw | None -> x
        let image = projections |> Option.map (fun (i, _) -> cellInput (i.call(knowledge).permute(0L, 2L, 3L, 1L).contiguous())) // (B, H, W, D)
        let knowledgeLast = knowledge.permute(0L, 2L, 3L, 1L) // (B, H, W, kb_dim), for hand modules
        let order = torch.tensor(concatOrder, device = device)
        let initialStack =
            match spec.StackStart, spec.Stack with
            | Some Zeros, _ | None, Reference -> torch.zeros([| B; L; H; W |], device = device)
            | Some Ones, _ | None, Push -> torch.ones([| B; L; H; W |], device = device)

        let advance (stack: torch.Tensor, pointer: torch.Tensor, memory: torch.Tensor, text: torch.Tensor, records) t =
            let c = controller.Step(t, encoded.Question, encoded.Words, valid, text)
            let cells =
                match image, projections with
                | Some image, Some(_, textProjection) ->
                    let inputs: CellGroup.CellInputs =
                        { Image = image; TextMap = cellInput (textProjection.call c.Text); Memory = memory
                          Attention1 = Stack.read stack pointer; Attention2 = Some(Stack.read stack (Stack.pop pointer))
                          Question = c.Text }
                    Some inputs
                | _ -> None
            let next =
                step
                    { Weights = c.ModuleWeights.index_select(1L, order) // concat order
                      Cells = cells
                      Hand = { Stack = stack; Pointer = pointer; Knowledge = knowledgeLast; Text = c.Text; Memory = memory } }
            let record = c.ModuleWeights, c.WordAttention, next.Pointer, Stack.read next.Stack next.Pointer
            next.Stack, next.Pointer, next.Memory, c.Text, record :: records
        // Each step in a dispose scope of its own: what it made and does not hand on is freed at
        // once (autograd keeps what backward needs), not when the caller's scope ends.
        let kept (stack, pointer, memory, text, records) =
            let w, a, p, m = List.head records
            [ stack; pointer; memory; text; w; a; p; m ]

        let _, _, memory, _, records =
            List.fold (fun state t -> Tensors.scoped kept (fun () -> advance state t))
                (initialStack, Stack.bottomPointer B L device, torch.zeros([| B; int64 d.MemDim |], device = device),
                 controller.InitialText B, [])
                [ 0 .. d.Steps - 1 ]
        let records = List.rev records
        let stackOf (f: _ -> torch.Tensor) = torch.stack(records |> List.map f |> Array.ofList, 1L)
        { Logits = classifier.call(torch.cat([| encoded.Question; memory |], -1L))
          ModuleWeights = stackOf (fun (w, _, _, _) -> w)
          WordAttention = stackOf (fun (_, a, _, _) -> a)
          Pointers = stackOf (fun (_, _, p, _) -> p)
          AttentionMaps = stackOf (fun (_, _, _, m) -> m) }

    /// The forward pass: all generic cells as one chain of nodes, stacks folded (`FusedStep`).
    member this.Forward(batch: Batch, evaluation: NodeOps.NodeEvaluation) : ForwardResult =
        let prepared = if groups.IsEmpty then None else Some(FusedCells.prepare evaluation groups)
        this.Run(batch, FusedStep.apply stepModules prepared)

    /// `ReferenceForward`, with `observe` shown each step's inputs before the step runs (analysis).
    member this.ObservedForward(batch: Batch, evaluation: NodeOps.NodeEvaluation, observe: StepModules.StepInputs -> unit) : ForwardResult =
        this.Run(batch, fun inputs -> observe inputs; ReferenceStep.apply stepModules evaluation inputs)

    /// The forward pass as first written (`ReferenceStep`): what `Forward` is tested and benchmarked
    /// against. Same parameters, same results up to float rounding.
    member this.ReferenceForward(batch: Batch, evaluation: NodeOps.NodeEvaluation) : ForwardResult =
        this.Run(batch, ReferenceStep.apply stepModules evaluation)

    /// `ReferenceForward` with the answer cells reading `answerMaps` (the same at every step) in
    /// place of the stack; everything else as usual. A diagnostic: the oracle-map instrument.
    member this.ReferenceForward(batch: Batch, evaluation: NodeOps.NodeEvaluation, answerMaps: ReferenceStep.AnswerMaps) : ForwardResult =
        this.ReferenceForward(batch, evaluation, { ReferenceStep.AnswerReads.plain with Maps = Some answerMaps })

    /// `ReferenceForward` with the answer cells reading as `reads` says (diagnostics).
    member this.ReferenceForward(batch: Batch, evaluation: NodeOps.NodeEvaluation, reads: ReferenceStep.AnswerReads) : ForwardResult =
        this.Run(batch, ReferenceStep.applyReading reads stepModules evaluation)

/// The one function from a spec to a network.
let compile (spec: ModelSpec) : LnmnNetwork =
    if spec.Dims.StackLength < 2 then invalidArg "spec" "the stack needs at least 2 slots"
    let network = new LnmnNetwork(spec)
    match ModelSpec.initialisation spec with
    | AuthorsCode -> network.InitialiseAsAuthors()
    | TorchDefaults -> ()
    match spec.AlphaInitScale with
    | Some scale ->
        use _ = torch.no_grad ()
        for alpha in network.AlphaParameters() do alpha.mul_(torch.tensor scale) |> ignore
    | None -> ()
    match spec.AlphaPreset with
    | Some preset ->
        let genotype = Genotype.ofPreset preset spec.Modules
        match Genotype.check spec.Modules genotype with
        | Error e -> invalidArg "spec" $"its α preset does not fit its modules: {e}"
        | Ok() -> ()
        use _ = torch.no_grad ()
        let layout, _ = groupModules spec.Modules
        for (_, indices), group in List.zip layout network.CellGroups do
            let alpha = [| for m in indices do for node in (Genotype.cell genotype m).Nodes do yield! Genotype.logits node |]
            group.Alpha.copy_(torch.tensor(alpha, dtype = group.Alpha.dtype).view(group.Alpha.shape)) |> ignore
    | None -> ()
    network
