"""The first instruction of a function, carried out by the tracer instead of run.

A breakpoint is an int3 over the first byte of an instruction. To let a thread that
trapped there go on, the tracer can put the original byte back and run the instruction
alone (a single step), then put the int3 back: while the byte is back, any other thread
of the process that reaches the address runs past it unseen, and its call is not
counted. Where the instruction is one of the few that functions commonly begin with, the
tracer instead does what it would do to the registers (and the stack), and moves the
thread past it: the int3 never leaves.

``carry_out`` decodes such an instruction from the 8 bytes at its address and says what
it does, with no I/O of its own (what it reads of memory comes through ``read_byte``):

- ``endbr64`` (nothing but the next instruction), ``push`` of a register;
- ``mov`` of a register to a register, ``mov $imm32`` to a register;
- ``test``, ``xor``, ``sub`` and ``cmp`` of two registers; ``sub`` and ``cmp`` of a
  register with an immediate (``sub $0xd8, %rsp``: glibc's printf);
- ``cmpb $imm8, disp32(%rip)`` (glibc's read and write, asking whether the process has
  one thread).

Operands are 32 or 64 bits wide (REX.W); writing a 32-bit register clears its upper half,
as the processor does. The flags are set as the Intel SDM defines them for each
instruction (volume 2: CF, PF, AF, ZF, SF and OF for sub and cmp; CF and OF cleared by
test and xor, whose AF the manual leaves undefined: cleared, as the processors we ran
them on do), the other bits of RFLAGS kept. tests/test_explain_emulate.py runs each form
on the processor and compares. Anything else (another opcode, a prefix, a memory operand
other than the one above) is None: the tracer steps over it, as it does an instruction
that runs on into the next page, or a push its store cannot make (``Tracer._emulate``).
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

ENDBR64 = 0xFA1E0FF3  # f3 0f 1e fa, as the low bytes of a word read


@dataclass(frozen=True)
class CarriedOut:
    """What an instruction did: the address of the next one, the registers it set (by
    name, 64-bit values, ``eflags`` among them) and a word it pushed (address, value)."""

    next_rip: int
    registers: dict[str, int] = field(default_factory=dict)
    pushed: tuple[int, int] | None = None


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


def carry_out(word: int, rip: int, registers: Callable[[str], int],
              read_byte: Callable[[int], int | None]) -> CarriedOut | None:
    """What the instruction whose 8 bytes (little-endian) are ``word``, at ``rip``, does,
    with the registers ``registers(name)`` gives and the bytes of memory ``read_byte``
    gives (None where the processor could not read it); None where it is not one of
    the forms in the module's docstring."""
    def byte(i: int) -> int:
        return (word >> (8 * i)) & 0xFF

    if word & 0xFFFFFFFF == ENDBR64:
        return CarriedOut(rip + 4)
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
    if op == 0x80 and modrm == 0x3D:  # cmpb $imm8, disp32(%rip)
        length = i + 7
        if length > 8:
            return None
        disp = _signed((word >> (8 * (i + 2))) & 0xFFFFFFFF, 32)
        operand = read_byte((rip + length + disp) & 0xFFFFFFFFFFFFFFFF)
        if operand is None:
            return None
        _, set_flags = subtract(operand, byte(i + 6), 8)
        return CarriedOut(rip + length, {"eflags": flags | set_flags})
    if mod != 3:
        return None
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
