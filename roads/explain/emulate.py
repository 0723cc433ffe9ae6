"""The first instruction of a function, carried out by the tracer instead of run.

A breakpoint is an int3 over the first byte of an instruction. To let a thread that
trapped there go on, the tracer can put the original byte back and run the instruction
alone (a single step), then put the int3 back: while the byte is back, any other thread
of the process that reaches the address runs past it unseen, and its call is not
counted. Where the instruction is one of the few that functions commonly begin with, the
tracer instead does what it would do to the registers (and the stack), and moves the
thread past it: the int3 never leaves.

``carry_out`` decodes such an instruction from the 8 bytes at its address and says what
it does, with no I/O of its own (what it reads of memory comes through ``read``):

- ``endbr64`` (nothing but the next instruction), ``push`` of a register;
- ``mov`` of a register to a register, ``mov $imm32`` to a register;
- ``test``, ``xor``, ``sub`` and ``cmp`` of two registers; ``sub`` and ``cmp`` of a
  register with an immediate (``sub $0xd8, %rsp``: glibc's printf);
- ``lea`` of any address (it reads no memory);
- a ``jmp`` to a displacement (a function that is another's other name);
- ``mov`` to a register from memory at a displacement from RIP (``mov
  stdin(%rip), %rax``: a global of the object), ``cmpb $imm8`` and ``cmp $imm8`` with
  such memory (glibc's read and write, asking whether the process has one thread).
  Only there, where the address is fixed by the instruction's own: the tracer judges
  once for each instruction whether that memory is its object's own data.

Operands are 32 or 64 bits wide (REX.W); writing a 32-bit register clears its upper half,
as the processor does. The flags are set as the Intel SDM defines them for each
instruction (volume 2: CF, PF, AF, ZF, SF and OF for sub and cmp; CF and OF cleared by
test and xor, whose AF the manual leaves undefined: cleared, as the processors we ran
them on do), the other bits of RFLAGS kept. tests/test_explain_emulate.py runs each form
on the processor and compares. Anything else (another opcode, a prefix, a memory operand
other than the one above) is None: the tracer steps over it, as it does an instruction
that runs on into the next page, or a push its store cannot make (``Tracer._emulate``).
Where a form reads memory, ``read(address, size)`` gives the ``size`` bytes there as a
little-endian number, or None where the processor could not read them (the instruction
is then stepped over, and faults as it would).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

# x86-64's general registers by their number in ModRM and REX (Intel SDM vol. 2, 2.1.5).
REGISTERS = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
             "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")

# RFLAGS bits the arithmetic sets (Intel SDM vol. 1, 3.4.3.1).
CF, PF, AF, ZF, SF, OF = 1 << 0, 1 << 2, 1 << 4, 1 << 6, 1 << 7, 1 << 11
ARITHMETIC = CF | PF | AF | ZF | SF | OF

# The lower half of 4-level paging's canonical addresses, user space's at most: a jump
# to a non-canonical address faults on the jmp itself, not at its target (Intel SDM vol.
# 1, 3.3.7.1; vol. 2, JMP). With 5-level paging user space may reach higher: such
# jumps are stepped.
LOWER_HALF = 1 << 47

ENDBR64 = 0xFA1E0FF3  # f3 0f 1e fa, as the low bytes of a word read


@dataclass(frozen=True)
class CarriedOut:
    """What an instruction did: the address of the next one, the registers it set (by
    name, 64-bit values, ``eflags`` among them) and a word it pushed (address, value)."""

    next_rip: int
    registers: dict[str, int] = field(default_factory=dict)
    pushed: tuple[int, int] | None = None
    # The address right after the instruction's own bytes, where that is not
    # ``next_rip`` (a jump).
    end: int | None = None

    @property
    def after(self) -> int:
        """The address right after the instruction's bytes."""
        return self.next_rip if self.end is None else self.end


def _parity(value: int) -> int:
    """PF: set when the low byte of the result has an even number of ones."""
    return PF if bin(value & 0xFF).count("1") % 2 == 0 else 0


def _result_flags(result: int, width: int) -> int:
    """ZF, SF and PF of ``result`` (already cut to ``width`` bits)."""
    return ((ZF if result == 0 else 0) | (SF if result >> (width - 1) & 1 else 0)
            | _parity(result))


def subtract(a: int, b: int, width: int) -> tuple[int, int]:
    """``a - b`` in ``width`` bits, as sub and cmp compute it: the result and its flags."""
    mask = (1 << width) - 1
    a, b = a & mask, b & mask
    result = (a - b) & mask
    flags = _result_flags(result, width)
    if a < b:
        flags |= CF  # a borrow out of the top bit
    if ((a ^ b) & (a ^ result)) >> (width - 1) & 1:
        flags |= OF  # operands of unlike signs, and the result's sign is b's
    if (a ^ b ^ result) & 0x10:
        flags |= AF  # a borrow out of bit 3
    return result, flags


def logical(result: int, width: int) -> int:
    """The flags of test and xor for ``result``: CF, OF and AF cleared."""
    return _result_flags(result & ((1 << width) - 1), width)


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) & 1 else value


def _operand(word: int, at: int, rex: int) -> tuple[str | None, str | None, int, int, int] | None:
    """The memory operand whose ModRM byte is byte ``at`` of ``word`` (its mod not 3):
    base register ("rip" for RIP-relative, None for none), index register or None, scale,
    displacement, and the index of the byte after the operand's; None where its bytes
    run past the word (Intel SDM vol. 2, 2.1.5 and 2.2.1.6)."""
    def byte(i: int) -> int:
        return (word >> (8 * i)) & 0xFF

    modrm = byte(at)
    mod, rm = modrm >> 6, modrm & 7
    end, index, scale = at + 1, None, 1
    size = (0, 1, 4)[mod]
    if rm == 4:  # a SIB byte follows
        if end >= 8:
            return None
        sib = byte(end)
        end += 1
        scale = 1 << (sib >> 6)
        number = ((rex >> 1) & 1) << 3 | (sib >> 3) & 7
        index = None if number == 4 else REGISTERS[number]  # rsp is no index; r12 is
        if sib & 7 == 5 and mod == 0:
            base, size = None, 4
        else:
            base = REGISTERS[(rex & 1) << 3 | sib & 7]
    elif rm == 5 and mod == 0:
        base, size = "rip", 4
    else:
        base = REGISTERS[(rex & 1) << 3 | rm]
    if end + size > 8:
        return None
    disp = _signed((word >> (8 * end)) & ((1 << (8 * size)) - 1), 8 * size) if size else 0
    return base, index, scale, disp, end + size


def carry_out(word: int, rip: int, registers: Callable[[str], int],
              read: Callable[[int, int], int | None]) -> CarriedOut | None:
    """What the instruction whose 8 bytes (little-endian) are ``word``, at ``rip``, does,
    with the registers ``registers(name)`` gives and the memory ``read(address, size)``
    gives (None where the processor could not read it); None where it is not one of
    the forms in the module's docstring."""
    def byte(i: int) -> int:
        return (word >> (8 * i)) & 0xFF

    if word & 0xFFFFFFFF == ENDBR64:
        return CarriedOut(rip + 4)
    if byte(0) in (0xEB, 0xE9):  # jmp rel8, jmp rel32
        size = 1 if byte(0) == 0xEB else 4
        end = rip + 1 + size
        target = end + _signed((word >> 8) & ((1 << (8 * size)) - 1), 8 * size)
        if not 0 <= target < LOWER_HALF:  # a jump out of it faults at the jmp (#GP)
            return None
        return CarriedOut(target, end=end)
    i, rex = 0, 0
    if 0x40 <= byte(0) <= 0x4F:
        i, rex = 1, byte(0)
    op = byte(i)
    wide, r_ext, b_ext = bool(rex & 8), (rex >> 2) & 1, rex & 1
    width = 64 if wide else 32
    if 0x50 <= op <= 0x57:  # push r64 (REX.W or not: the operand is 64 bits)
        value = registers(REGISTERS[b_ext << 3 | (op - 0x50)])
        rsp = (registers("rsp") - 8) & 0xFFFFFFFFFFFFFFFF
        return CarriedOut(rip + i + 1, {"rsp": rsp}, (rsp, value))
    if 0xB8 <= op <= 0xBF and not wide:  # mov $imm32, r32 (zero-extended)
        imm = (word >> (8 * (i + 1))) & 0xFFFFFFFF
        return CarriedOut(rip + i + 5, {REGISTERS[b_ext << 3 | (op - 0xB8)]: imm})
    if i + 1 >= 8:
        return None
    modrm = byte(i + 1)
    mod, reg, rm = modrm >> 6, r_ext << 3 | (modrm >> 3) & 7, b_ext << 3 | modrm & 7
    flags = registers("eflags") & ~ARITHMETIC
    mask = (1 << width) - 1
    if mod != 3:
        return _with_memory(word, rip, i, rex, registers, read)
    if op in (0x89, 0x8B):  # mov r, r/m; mov r/m, r
        dst, src = (rm, reg) if op == 0x89 else (reg, rm)
        return CarriedOut(rip + i + 2, {REGISTERS[dst]: registers(REGISTERS[src]) & mask})
    if op == 0x85:  # test r/m, r
        result = registers(REGISTERS[rm]) & registers(REGISTERS[reg])
        return CarriedOut(rip + i + 2, {"eflags": flags | logical(result, width)})
    if op in (0x31, 0x33):  # xor r/m, r; xor r, r/m
        dst = rm if op == 0x31 else reg
        result = (registers(REGISTERS[rm]) ^ registers(REGISTERS[reg])) & mask
        return CarriedOut(rip + i + 2, {REGISTERS[dst]: result,
                                        "eflags": flags | logical(result, width)})
    if op in (0x29, 0x2B, 0x39, 0x3B):  # sub, cmp: r/m - r (0x29, 0x39), r - r/m (others)
        dst, src = (rm, reg) if op in (0x29, 0x39) else (reg, rm)
        result, set_flags = subtract(registers(REGISTERS[dst]), registers(REGISTERS[src]), width)
        changed = {"eflags": flags | set_flags}
        if op in (0x29, 0x2B):
            changed[REGISTERS[dst]] = result
        return CarriedOut(rip + i + 2, changed)
    if op in (0x81, 0x83) and (modrm >> 3) & 7 in (5, 7):  # sub/cmp $imm, r/m
        size = 4 if op == 0x81 else 1
        length = i + 2 + size
        if length > 8:
            return None
        imm = _signed((word >> (8 * (i + 2))) & ((1 << (8 * size)) - 1), 8 * size)
        result, set_flags = subtract(registers(REGISTERS[rm]), imm, width)
        changed = {"eflags": flags | set_flags}
        if (modrm >> 3) & 7 == 5:
            changed[REGISTERS[rm]] = result
        return CarriedOut(rip + length, changed)
    return None


def _with_memory(word: int, rip: int, i: int, rex: int, registers: Callable[[str], int],
                 read: Callable[[int, int], int | None]) -> CarriedOut | None:
    """The forms with a memory operand (ModRM's mod not 3) that ``carry_out`` takes: lea,
    and mov to a register, cmpb and cmp with an immediate from memory at a displacement
    from RIP."""
    op, modrm = (word >> (8 * i)) & 0xFF, (word >> (8 * (i + 1))) & 0xFF
    operand = _operand(word, i + 1, rex)
    if operand is None:
        return None
    base, index, scale, disp, end = operand
    width = 64 if rex & 8 else 32
    reg = ((rex >> 2) & 1) << 3 | (modrm >> 3) & 7
    # An immediate after the operand: cmpb's and cmp's imm8.
    length = end + (1 if op in (0x80, 0x83) else 0)
    if length > 8:
        return None
    next_rip = rip + length
    if op == 0x8D:  # lea: the address, cut to the operand's width; no memory is read
        address = (disp + (next_rip if base == "rip" else registers(base) if base else 0)
                   + (registers(index) * scale if index else 0))
        return CarriedOut(next_rip, {REGISTERS[reg]: address & ((1 << width) - 1)})
    if base != "rip":
        return None
    address = (next_rip + disp) & 0xFFFFFFFFFFFFFFFF
    flags = registers("eflags") & ~ARITHMETIC
    imm = _signed((word >> (8 * end)) & 0xFF, 8)
    if op == 0x8B:  # mov m, r (a 32-bit load clears the upper half)
        value = read(address, width // 8)
        return None if value is None else CarriedOut(next_rip, {REGISTERS[reg]: value})
    if op in (0x80, 0x83) and (modrm >> 3) & 7 == 7:  # cmpb $imm8, m8; cmp $imm8, m
        bits = 8 if op == 0x80 else width  # 0x83's imm8 sign-extended to the operand's
        value = read(address, bits // 8)
        if value is None:
            return None
        return CarriedOut(next_rip, {"eflags": flags | subtract(value, imm, bits)[1]})
    return None
