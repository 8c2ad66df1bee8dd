/// The model as data: records and unions with no tensors in them. `LnmnNetwork.compile` turns a
/// `ModelSpec` into TorchSharp modules; everything else (CLI, checkpoints, analysis) reads these.
module Lnmn.Core.Specs

/// Sizes of every part of the network. Defaults follow the authors' run command (docs/design.md §2).
type ModelDims =
    { Steps: int            // T: controller steps
      StackLength: int      // L: attention maps the stack holds
      MapDim: int           // channels of the img / txt maps that nodes combine
      EmbedDim: int
      LstmHidden: int       // per direction; q and h_s have 2 × LstmHidden
      KbDim: int
      MemDim: int
      Answers: int
      Vocabulary: int       // including the padding (0) and unknown (1) tokens
      InputChannels: int    // C of the C×H×W image features
      GridHeight: int
      GridWidth: int }

module ModelDims =
    /// The paper's CLEVR size: ResNet-101 layer3 features, 1024×14×14.
    let paper answers vocabulary =
        { Steps = 5; StackLength = 5; MapDim = 384; EmbedDim = 300; LstmHidden = 256; KbDim = 512
          MemDim = 512; Answers = answers; Vocabulary = vocabulary; InputChannels = 1024
          GridHeight = 14; GridWidth = 14 }

    /// A size that trains in minutes on two CPU cores (the built-in dataset's default): cells 32
    /// wide, the rest 64. Against 32 everywhere: +1.9 points over three seeds at the main job's
    /// budget, ahead on each, for 1.3× the step time (README, "Where it stands").
    let small answers vocabulary inputChannels gridHeight gridWidth =
        { Steps = 5; StackLength = 5; MapDim = 32; EmbedDim = 64; LstmHidden = 64; KbDim = 64
          MemDim = 64; Answers = answers; Vocabulary = vocabulary; InputChannels = inputChannels
          GridHeight = gridHeight; GridWidth = gridWidth }

    let questionDim (d: ModelDims) = 2 * d.LstmHidden

/// What a generic cell outputs: an attention map (to the stack) or memory features.
type CellRole =
    | Attention
    | Answer

/// 3 inputs: image, text, one attention map. 4 inputs: image, text, two attention maps.
type CellArity =
    | ThreeInput
    | FourInput

type CellKind = { Role: CellRole; Arity: CellArity }

module CellKind =
    let nodeCount (k: CellKind) = match k.Arity with ThreeInput -> 2 | FourInput -> 3
    let all = [ for r in [ Attention; Answer ] do for a in [ ThreeInput; FourInput ] -> { Role = r; Arity = a } ]
    let name (k: CellKind) =
        let a = match k.Arity with ThreeInput -> "3in" | FourInput -> "4in"
        let r = match k.Role with Attention -> "attention" | Answer -> "answer"
        $"{r}-{a}"

/// Stack-NMN's hand-designed modules (Hu et al. 2018; docs/design.md §2). Each moves the pointer itself.
type HandModule =
    /// conv1x1(l2norm(kb ⊙ W c)) pushed.
    | Find
    /// conv1x1(l2norm(kb ⊙ W c ⊙ kb pooled under the top map)) written over the top map.
    | Transform
    /// Find, then And: the top map intersected with what Find finds.
    | Filter
    /// min of the two top maps: pops two, pushes one.
    | And
    /// max of the two top maps: pops two, pushes one.
    | Or
    /// A learned constant map pushed.
    | Scene
    /// Memory from the top map (popped): Linear([c ; mem ; l2norm(W c ⊙ pooled kb)]), the l2norm as
    /// `DescribeReadout` says.
    | DescribeOne
    /// Memory from the two top maps (both popped).
    | DescribeTwo

module HandModule =
    let all = [ Find; Transform; Filter; And; Or; Scene; DescribeOne; DescribeTwo ]
    let name (m: HandModule) =
        match m with
        | Find -> "find" | Transform -> "transform" | Filter -> "filter" | And -> "and" | Or -> "or"
        | Scene -> "scene" | DescribeOne -> "describe-one" | DescribeTwo -> "describe-two"

/// One module of the layout the controller softly chooses from.
type ModuleSpec =
    /// A learned cell: nodes that mix six elementwise ops under weights α.
    | Generic of CellKind
    /// Leaves stack and pointer as they are and adds nothing to memory (mem_t sums the answer
    /// modules only, as in the authors' code).
    | NoOp
    /// A Stack-NMN module (the hand-designed baseline).
    | Hand of HandModule
    /// The paper's Table 2 ablation: a cell's inputs concatenated, then one 1×1 conv, no nodes, no α.
    | Concat of CellKind

module ModuleSpec =
    /// As tables and genotype files name a module: "attention-3in", "concat-answer-4in", "find", "NoOp".
    let name (m: ModuleSpec) =
        match m with
        | Generic kind -> CellKind.name kind
        | Concat kind -> $"concat-{CellKind.name kind}"
        | Hand h -> HandModule.name h
        | NoOp -> "NoOp"

    let all = List.map Generic CellKind.all @ [ NoOp ] @ List.map Hand HandModule.all @ List.map Concat CellKind.all

/// The six ops every node mixes, in the order of the α vector.
type NodeOp =
    | Min
    | Max
    | Sum
    | Product
    | Choose1
    | Choose2

module NodeOp =
    let all = [ Min; Max; Sum; Product; Choose1; Choose2 ]
    let index op = List.findIndex ((=) op) all
    let name op =
        match op with
        | Min -> "min" | Max -> "max" | Sum -> "sum" | Product -> "product"
        | Choose1 -> "choose_1" | Choose2 -> "choose_2"

/// How cells use the stack (docs/design.md §2).
type StackDiscipline =
    /// The authors' code: the stack starts at zero and the pointer never moves up, so it stays at
    /// the bottom. Reproduces the published numbers.
    | Reference
    /// Stack-NMN's Find behaviour, a departure (the paper's prose describes `Reference`): the stack
    /// starts uniform, attention cells push their result.
    | Push

/// One node of a learned cell: softmax(α) in `NodeOp.all` order, and the op with the largest weight
/// (the node of the hard-max network).
type GenotypeNode = { Op: NodeOp; Weights: float list }

/// A generic cell: its index in the module list, its kind, its nodes in `CellGroup`'s order.
type GenotypeCell = { Module: int; Kind: CellKind; Nodes: GenotypeNode list }

/// The learned architecture as data (DARTS' Genotype): the module list the cells belong to, and what
/// each generic cell's nodes compute. `Genotype` writes and reads it as genotype.json and turns it into α.
type Genotype = { Modules: ModuleSpec list; Cells: GenotypeCell list }

/// A fixed architecture to start α from instead of a random draw; with `--alpha-schedule frozen` the
/// cells keep it. The built-in ones give, per cell kind, the ops of each cell's nodes, cycled over the
/// kind's cells; a chosen op starts at softmax weight 0.9998 (`Genotype.ofPreset` writes them as genotypes).
type AlphaPreset =
    /// The modules the paper's LNMN (11 modules) reports learning on CLEVR (its Table 6).
    | PaperTable6
    /// Table 6 with every 3-input attention cell as Stack-NMN's Find, conv(I ⊙ W1 c).
    | FindAttention
    /// A genotype (a run's genotype.json): softmax(α) starts at its weights.
    | Written of Genotype

module AlphaPreset =
    /// Ops per node for the cells of a kind (nodes in `CellGroup`'s order: 3 inputs O(I, a), O(n0, c);
    /// 4 inputs O(a1, a2), O(I, n0), O(n1, c)), one list per cell, cycled; a genotype's are its cells'
    /// winning ops.
    let ops (preset: AlphaPreset) (kind: CellKind) : NodeOp list list =
        match kind.Role, kind.Arity, preset with
        | _, _, Written genotype -> [ for cell in genotype.Cells do if cell.Kind = kind then [ for node in cell.Nodes -> node.Op ] ]
        // conv(choose_2(min(I, a), c)) and conv(max(I, a) + c)
        | Attention, ThreeInput, PaperTable6 -> [ [ Min; Choose2 ]; [ Max; Sum ] ]
        | Attention, ThreeInput, FindAttention -> [ [ Choose1; Product ] ]
        // conv(max(a1, a2) ⊙ c) and conv(max(a2, I) ⊙ c)
        | Attention, FourInput, _ -> [ [ Max; Choose2; Product ]; [ Choose2; Max; Product ] ]
        // Σ min(I, a) ⊙ c and Σ min(I ⊙ a, c)
        | Answer, ThreeInput, _ -> [ [ Min; Product ]; [ Product; Min ] ]
        // Σ min(min(a1, a2) ⊙ I, c) and Σ (min(a1, a2) + I) ⊙ c
        | Answer, FourInput, _ -> [ [ Min; Product; Min ]; [ Min; Sum; Product ] ]

/// How an answer cell turns its last node (B, H, W, D) into the vector its output layer reads.
type AnswerPooling =
    /// The paper's: Σ over the map. Every position adds a unit vector (nodes are L2-normalised per
    /// position), so the cell reads the attention map only through how it bends those vectors.
    | SpatialSum
    /// Ours: Σ_p H·W·softmax_p(a) n_p with a the map the cell read at the pointer, Stack-NMN's
    /// Describe weighting; equals the paper's sum when a is uniform (docs/design.md §4).
    | AttentionWeighted
    /// Ours, a departure: H·W·(m ⊙ m) with m = Σ_p softmax_p(a) n_p, the attention-weighted mean
    /// times itself, so two objects under one map give their product term n1 ⊙ n2, as Stack-NMN's
    /// DescribeTwo multiplies its two pools (docs/comparisons.md: the paper's cell does not compare
    /// from an oracle map, Describe does).
    | AttentionSquared
    /// Ours, a departure: both, side by side, [H·W·m ; H·W·(m ⊙ m)], so the cell keeps the first-order
    /// term (the sign) that query and count read and gains the product term comparisons read; the
    /// answer layer reads map_dim more inputs.
    | AttentionWeightedAndSquared
    /// Ours, a departure: Stack-NMN's Describe read-out on the cell's last node, l2norm(c ⊙ m1) in
    /// 3-input cells and l2norm(c ⊙ m1 ⊙ m2) in 4-input ones, m_i = Σ_p softmax_p(a_i) n_p the node
    /// pooled under each map the cell read and c the txt map: the product of the two pools makes
    /// "same or different" linear (DescribeTwo), the gate picks the channels the question asks about
    /// and the norm leaves the layer the direction. Measured worse than the default on the main job
    /// (docs/comparisons.md).
    | GatedProduct
    /// Ours, a departure: the default's H·W·m beside Describe's unnormalised read-out of the img map,
    /// [H·W·m ; H·W·g ⊙ p] in 3-input cells and [H·W·m ; H·W·g ⊙ p ⊙ p] in 4-input ones, with
    /// p = Σ_p softmax_p(a) I_p the img map pooled under the map the cell read and g = W_g c_t + b_g
    /// a gate of each cell's own from the controller's text vector. Pooling the cell's own image node
    /// instead does not learn (docs/comparisons.md, sixth round).
    | AttentionWeightedAndDescribe

module AnswerPooling =
    /// How many values the pooling hands the answer layer, for a last node map_dim wide.
    let width (pooling: AnswerPooling) (mapDim: int) =
        match pooling with
        | AttentionWeightedAndSquared | AttentionWeightedAndDescribe -> 2 * mapDim
        | SpatialSum | AttentionWeighted | AttentionSquared | GatedProduct -> mapDim

/// The scale at which the image map I and the text map c enter the cells' nodes.
type CellInputScale =
    /// The paper's and the authors' code: the 1×1 conv of kb and the linear of c_t as they come.
    /// A node mixing I (‖I‖ ≈ 150 per position, measured) with a one-channel map (|a| ≤ 1) is then
    /// dominated by any op that carries I, even at 1% of softmax(α).
    | Raw
    /// Ours: I and c each L2-normalised over channels per position, as every node's output is, so
    /// no input outweighs another by its scale alone.
    | UnitNorm

/// How a node mixes its six ops before the L2 normalisation every node ends with.
type NodeMix =
    /// The paper's: normalise(Σ_i softmax(α)_i · op_i(x1, x2)). An op whose output is large (one
    /// that carries the image) outweighs the others at a small weight, so α's winner need not be
    /// what the node computes, and the one-hot (hard-max) node can lose what the soft one did.
    | MixThenNormalise
    /// Ours, a departure in the relaxation only: normalise(Σ_i softmax(α)_i · normalise(op_i(x1, x2))),
    /// each op brought to unit norm over channels per position first (an op that is zero there stays
    /// zero), so each op's share of the node is its share of α. One-hot α gives the paper's node.
    | NormaliseEachOp

/// What the attention stack holds before the first step.
type StackStart =
    /// Every slot zero: the authors' code with the `Reference` discipline (and Stack-NMN's). A cell
    /// that reads the map at the first step reads zeros, so a node whose α winner carries the map
    /// (choose_2, I ⊙ a, min(a1, a2)) is zero there while its soft mixture is not.
    | Zeros
    /// Every slot all ones, a map over the whole image: what the `Push` discipline starts from, and
    /// ours for `Reference` (a departure, `--stack-start ones`): no op is zero at the first step for
    /// want of a map, so the hard-max node there computes what the soft one's winner did.
    | Ones

/// What Stack-NMN's Describe modules feed their memory Linear beside c and mem: W c ⊙ p, p the kb
/// pooled under the map read (DescribeTwo: W c ⊙ p1 ⊙ p2, one pool under each of its two maps).
type DescribeReadout =
    /// Stack-NMN's: l2norm(W c ⊙ p [⊙ p2]).
    | Normalised
    /// Ours, a departure: W c ⊙ p [⊙ p2] as it comes, so the Linear reads the pools' magnitudes too
    /// (docs/comparisons.md: lnmn-describe learns far faster with it).
    | Unnormalised

/// How the weights start (α is always N(0,1), as the paper says).
type Initialisation =
    /// The authors' code: xavier-normal linear and LSTM weights with zero biases, xavier-uniform
    /// 1×1 convs with N(0,1) biases, c_0 ~ N(0,1).
    | AuthorsCode
    /// PyTorch's layer defaults, U(±1/√fan-in).
    | TorchDefaults

/// How the weighted sum of the modules' pointers becomes the next pointer.
type PointerSharpening =
    /// One-hot at the argmax (Stack-NMN's default).
    | Hard
    /// softmax(p / temperature).
    | Soft of temperature: float

module PointerSharpening =
    /// The authors' LNMN code: softmax(p / 0.2).
    let lnmn = Soft 0.2

type ModelSpec =
    { Dims: ModelDims
      Modules: ModuleSpec list
      Stack: StackDiscipline
      /// None: PyTorch's defaults (specs written before this field existed have none).
      Initialisation: Initialisation option
      /// None: `PointerSharpening.lnmn` (specs written before this field existed have none).
      Pointer: PointerSharpening option
      /// Standard deviation of α's normal initialisation. None: 1, the paper's and the authors' N(0,1);
      /// DARTS starts at 1e-3, where every node begins as the uniform mixture and λ_op's gradient is zero.
      AlphaInitScale: float option
      /// None: α drawn at random (`AlphaInitScale`).
      AlphaPreset: AlphaPreset option
      /// None: `SpatialSum`, the paper's.
      AnswerPooling: AnswerPooling option
      /// None: `Raw`, the paper's.
      CellInputs: CellInputScale option
      /// None: `Normalised`, Stack-NMN's.
      DescribeReadout: DescribeReadout option
      /// None: `MixThenNormalise`, the paper's.
      NodeMix: NodeMix option
      /// None: the discipline's own, `Zeros` for `Reference` (the authors'), `Ones` for `Push`.
      StackStart: StackStart option }

/// The paper's three module sets (Table 3); NoOp is always added.
type Ablation =
    | Ablation9
    | Ablation11
    | Ablation14

module Ablation =
    let parse (n: int) =
        match n with
        | 9 -> Ok Ablation9
        | 11 -> Ok Ablation11
        | 14 -> Ok Ablation14
        | _ -> Error $"unknown ablation {n} (expected 9, 11 or 14)"

    let number a = match a with Ablation9 -> 9 | Ablation11 -> 11 | Ablation14 -> 14

    /// Cells per kind: attention 3-in, attention 4-in, answer 3-in, answer 4-in.
    let private counts a =
        match a with
        | Ablation9 -> 4, 2, 1, 1
        | Ablation11 -> 4, 2, 2, 2
        | Ablation14 -> 5, 4, 2, 2

    let modules a : ModuleSpec list =
        let at3, at4, an3, an4 = counts a
        let cells role arity n = List.replicate n (Generic { Role = role; Arity = arity })
        cells Attention ThreeInput at3 @ cells Attention FourInput at4
        @ cells Answer ThreeInput an3 @ cells Answer FourInput an4 @ [ NoOp ]

module ModelSpec =
    let lnmn ablation dims = { Dims = dims; Modules = Ablation.modules ablation; Stack = Reference; Pointer = None; Initialisation = Some AuthorsCode; AlphaInitScale = None; AlphaPreset = None; AnswerPooling = None; CellInputs = None; DescribeReadout = None; NodeMix = None; StackStart = None }

    /// Stack-NMN's 9 modules, pointer sharpened hard. Its modules move the pointer themselves; the
    /// stack starts at zero as `Reference` says.
    let stackNmn dims =
        { Dims = dims; Modules = List.map Hand HandModule.all @ [ NoOp ]; Stack = Reference; Pointer = Some Hard; Initialisation = Some AuthorsCode; AlphaInitScale = None; AlphaPreset = None; AnswerPooling = None; CellInputs = None; DescribeReadout = None; NodeMix = None; StackStart = None }

    /// A diagnostic: the ablation's attention cells, its answer cells replaced by Stack-NMN's Describe
    /// (3 inputs: DescribeOne, 4 inputs: DescribeTwo), which reads a map through a softmax over it.
    /// Tells whether the attention cells learn to ground when read as Stack-NMN reads them.
    let cellsWithDescribe ablation dims =
        let describe m =
            match m with
            | Generic { Role = Answer; Arity = ThreeInput } -> Hand DescribeOne
            | Generic { Role = Answer; Arity = FourInput } -> Hand DescribeTwo
            | other -> other
        { lnmn ablation dims with Modules = List.map describe (Ablation.modules ablation) }

    /// The ablation's module counts with every cell a concatenation cell.
    let concat ablation dims =
        let concatenated m = match m with Generic k -> Concat k | other -> other
        { lnmn ablation dims with Modules = List.map concatenated (Ablation.modules ablation) }

    let pointer (spec: ModelSpec) = defaultArg spec.Pointer PointerSharpening.lnmn

    let initialisation (spec: ModelSpec) = defaultArg spec.Initialisation TorchDefaults

    let nodeCount (spec: ModelSpec) =
        spec.Modules |> List.sumBy (function Generic k -> CellKind.nodeCount k | NoOp | Hand _ | Concat _ -> 0)

    /// Number of α values: six per node.
    let alphaCount spec = 6 * nodeCount spec

    /// Stack-NMN's modules and concatenation cells have no α: nothing to search, harden or read back.
    let hasAlpha spec = alphaCount spec > 0
