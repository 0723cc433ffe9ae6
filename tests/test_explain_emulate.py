"""The instructions the tracer carries out itself (roads/explain/emulate.py), against the
processor: each form is run on this machine's CPU from a C program, with operands chosen
at the edges (zero, signs, carries out of bit 3, 31 and 63), from RFLAGS all clear and
all set, and what the registers and RFLAGS hold after it is compared with what
``carry_out`` says. The decoding of the other forms (a push, REX's registers, the
RIP-relative cmpb, what is not carried out) is checked by hand below."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess

import pytest

from roads.explain import ptrace as pt
from roads.explain.emulate import (AF, ARITHMETIC, CF, PF, REGISTERS, SF, ZF, carry_out,
                                   subtract)

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="no gcc")

VALUES = (0, 1, 0x0F, 0x10, 0x7F, 0x80, 0xFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
          0x100000000, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF,
          0x123456789ABCDEF0)
# RFLAGS before: the arithmetic bits all clear, and all set (IF and bit 1 as user code has them).
BEFORE = (0x202, 0x202 | ARITHMETIC)

# Forms run on the processor, on rdi, rsi and rax (ModRM 0xfe: reg rdi, r/m rsi).
FORMS = {
    "test r64": "48 85 fe", "test r32": "85 fe",
    "xor r/m64, r": "48 31 fe", "xor r32": "31 fe", "xor r, r/m64": "48 33 fe",
    "sub r/m64, r": "48 29 fe", "sub r32": "29 fe", "sub r, r/m64": "48 2b fe",
    "cmp r/m64, r": "48 39 fe", "cmp r32": "39 fe", "cmp r, r/m64": "48 3b fe",
    "mov r/m64, r": "48 89 fe", "mov r32": "89 fe", "mov r32, r/m32": "8b fe",
    "sub $8, r64": "48 83 ee 08", "sub $-8, r64": "48 83 ee f8",
    "sub $0x12345678, r64": "48 81 ee 78 56 34 12", "sub $1, r32": "83 ee 01",
    "cmp $0x7f, r64": "48 83 fe 7f", "cmp $-0x80000000, r64": "48 81 fe 00 00 00 80",
    "mov $imm32, eax": "b8 78 56 34 12",
}

HARNESS = r"""
#include <stdio.h>
static const unsigned long values[] = { VALUES };
static const unsigned long before[] = { BEFORE };
#define N(a) (sizeof a / sizeof *a)
FUNCTIONS
int main(void)
{
    for (unsigned f = 0; f < N(before); f++)
        for (unsigned i = 0; i < N(values); i++)
            for (unsigned j = 0; j < N(values); j++) {
                unsigned long d, s, a, fl;
CALLS
            }
    return 0;
}
"""

FUNCTION = r"""
static void form{k}(unsigned long *d, unsigned long *s, unsigned long *a, unsigned long *fl)
{{
    unsigned long rdi = *d, rsi = *s, rax = *a, flags = *fl;
    __asm__ volatile("push %[f]\n\tpopfq\n\t.byte {bytes}\n\tpushfq\n\tpop %[f]"
                     : "+D"(rdi), "+S"(rsi), "+a"(rax), [f] "+r"(flags) : : "cc", "memory");
    *d = rdi; *s = rsi; *a = rax; *fl = flags;
}}
"""

# cmpb $imm8, (%rdi): the byte subtraction of the RIP-relative cmpb, on the processor.
CMPB = r"""
static void cmpb{k}(unsigned char *m, unsigned long *fl)
{{
    unsigned long flags = *fl;
    __asm__ volatile("push %[f]\n\tpopfq\n\tcmpb ${imm}, (%[m])\n\tpushfq\n\tpop %[f]"
                     : [f] "+r"(flags) : [m] "r"(m) : "cc", "memory");
    *fl = flags;
}}
"""
IMMEDIATES = (0, 1, 0x10, 0x7F, 0x80, 0xFF)


def _word(spelled: str) -> int:
    return int.from_bytes(bytes.fromhex(spelled).ljust(8, b"\x90"), "little")


@pytest.fixture(scope="module")
def processor(tmp_path_factory) -> list[list[int]]:
    """Each line the harness printed: form, i, j, flags before, rdi, rsi, rax, flags."""
    folder = tmp_path_factory.mktemp("emulate")
    names = list(FORMS)
    functions = "".join(FUNCTION.format(k=k, bytes=",".join(f"0x{b}" for b in FORMS[n].split()))
                        for k, n in enumerate(names))
    functions += "".join(CMPB.format(k=k, imm=imm) for k, imm in enumerate(IMMEDIATES))
    calls = "".join(
        f"                d = values[i]; s = values[j]; a = values[(i + j) % N(values)]; "
        f"fl = before[f];\n                form{k}(&d, &s, &a, &fl);\n"
        f'                printf("{k} %u %u %u %lu %lu %lu %lu\\n", i, j, f, d, s, a, fl);\n'
        for k in range(len(names)))
    calls += "".join(
        f"                {{ unsigned char m = (unsigned char)values[i]; fl = before[f]; "
        f"cmpb{k}(&m, &fl);\n"
        f'                  if (j == 0) printf("c{k} %u 0 %u 0 0 0 %lu\\n", i, f, fl); }}\n'
        for k in range(len(IMMEDIATES)))
    source = (HARNESS.replace("VALUES", ", ".join(f"{v:#x}UL" for v in VALUES))
              .replace("BEFORE", ", ".join(f"{v:#x}UL" for v in BEFORE))
              .replace("FUNCTIONS", functions).replace("CALLS", calls))
    (folder / "harness.c").write_text(source)
    subprocess.run(["gcc", "-O1", "-mno-red-zone", "-o", str(folder / "harness"),
                    str(folder / "harness.c")], check=True, timeout=120)
    out = subprocess.run([str(folder / "harness")], check=True, capture_output=True,
                         text=True, timeout=60).stdout
    return [line.split() for line in out.splitlines()]


def test_every_form_does_what_the_processor_does(processor):
    names = list(FORMS)
    checked = 0
    for line in processor:
        if line[0].startswith("c"):
            continue
        k, i, j, f = map(int, line[:4])
        rdi, rsi, rax, flags = map(int, line[4:])
        start = {"rdi": VALUES[i], "rsi": VALUES[j], "rax": VALUES[(i + j) % len(VALUES)],
                 "eflags": BEFORE[f]}
        done = carry_out(_word(FORMS[names[k]]), 0x1000, start.__getitem__, lambda at, size: None)
        assert done is not None, names[k]
        assert done.next_rip == 0x1000 + len(FORMS[names[k]].split()), names[k]
        after = {**start, **done.registers}
        assert (after["rdi"], after["rsi"], after["rax"]) == (rdi, rsi, rax), \
            (names[k], hex(VALUES[i]), hex(VALUES[j]))
        # AF after test and xor is undefined (SDM): processors may differ, and ours clears it.
        undefined = AF if names[k].startswith(("test", "xor")) else 0
        assert after["eflags"] & ~undefined == flags & ~undefined, (
            names[k], hex(VALUES[i]), hex(VALUES[j]), hex(BEFORE[f]), hex(after["eflags"]),
            hex(flags))
        checked += 1
    assert checked == len(FORMS) * len(VALUES) ** 2 * len(BEFORE)


def test_the_byte_compare_sets_the_flags_the_processor_sets(processor):
    lines = [line for line in processor if line[0].startswith("c")]
    assert len(lines) == len(IMMEDIATES) * len(VALUES) * len(BEFORE)
    for line in lines:
        imm = IMMEDIATES[int(line[0][1:])]
        i, f, flags = int(line[1]), int(line[3]), int(line[7])
        _, set_flags = subtract(VALUES[i], imm, 8)
        assert BEFORE[f] & ~ARITHMETIC | set_flags == flags, (hex(VALUES[i] & 0xFF), imm)


def test_a_rip_relative_cmpb_reads_its_byte_past_the_instruction():
    """80 3d disp32 imm8: glibc's read(), cmpb $0x0, 0xe3331(%rip) at 0x...; the byte
    read is at the next instruction's address plus the displacement."""
    word = _word("80 3d 31 33 0e 00 00")  # cmpb $0x0, 0xe3331(%rip)
    asked = []

    def read(at, size):
        asked.append((at, size))
        return 1

    done = carry_out(word, 0x7000, {"eflags": 0x202}.__getitem__, read)
    assert asked == [(0x7000 + 7 + 0xE3331, 1)]
    assert done.next_rip == 0x7007 and done.registers == {"eflags": 0x202}  # 1 - 0: none set
    back = carry_out(_word("80 3d fc ff ff ff 01"), 0x7000, {"eflags": 0x202}.__getitem__,
                     lambda at, size: 0 if (at, size) == (0x7000 + 7 - 4, 1) else None)  # a negative displacement
    assert back.registers["eflags"] == 0x202 | CF | SF | PF | AF  # 0 - 1: borrows, 0xff
    assert carry_out(word, 0x7000, {"eflags": 0}.__getitem__, lambda at, size: None) is None


def test_registers_named_by_rex_and_the_stack_forms():
    regs = {name: 0x1000 * (n + 1) for n, name in enumerate(
        ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
         "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"))}
    regs["eflags"] = 0x202
    get = regs.__getitem__

    def run(spelled):
        return carry_out(_word(spelled), 0x400, get, lambda at, size: None)

    assert run("f3 0f 1e fa").next_rip == 0x404 and run("f3 0f 1e fa").registers == {}
    push = run("41 54")  # push %r12
    assert push.pushed == (regs["rsp"] - 8, regs["r12"]) and push.registers == {"rsp": regs["rsp"] - 8}
    assert push.next_rip == 0x402
    assert run("55").pushed == (regs["rsp"] - 8, regs["rbp"])  # push %rbp
    assert run("48 89 e5").registers == {"rbp": regs["rsp"]}  # mov %rsp, %rbp
    assert run("44 89 c8").registers == {"rax": regs["r9"]}  # mov %r9d, %eax
    assert run("41 b8 07 00 00 00").registers == {"r8": 7}  # mov $7, %r8d
    assert run("4d 85 c0").registers == {"eflags": 0x202 | PF}  # test %r8, %r8: 0x9000
    assert run("45 31 ff").registers == {"r15": 0, "eflags": 0x202 | ZF | PF}  # xor %r15d, %r15d
    printf = run("48 81 ec d8 00 00 00")  # sub $0xd8, %rsp
    assert printf.registers["rsp"] == regs["rsp"] - 0xD8 and printf.next_rip == 0x407
    assert run("48 83 ec 08").registers["rsp"] == regs["rsp"] - 8
    assert run("41 83 ff 00").registers == {"eflags": 0x202 | PF}  # cmp $0, %r15d: 0x10000


def test_lea_jumps_and_loads_from_the_objects_own_data():
    """lea computes an address and reads nothing; a jmp goes to its target, its own bytes
    ending before; a mov, cmpb or cmp with memory at a displacement from RIP reads that
    memory, as many bytes as the operand's width, at the address after the instruction
    plus the displacement (the forms glibc's functions begin with on this machine)."""
    regs = {name: 0x1000 * (n + 1) for n, name in enumerate(REGISTERS)}
    regs["eflags"] = 0x202
    asked = []

    def read(at, size):
        asked.append((at, size))
        return 0x1122334455667788 & ((1 << 8 * size) - 1)

    def run(spelled, at=0x400):
        return carry_out(_word(spelled), at, regs.__getitem__, read)

    assert run("48 8d 35 10 00 00 00").registers == {"rsi": 0x400 + 7 + 0x10}  # lea (rip)
    assert run("48 8d 04 7f").registers == {"rax": regs["rdi"] * 3}  # lea (%rdi,%rdi,2)
    assert run("8d 44 24 f8").registers == {"rax": regs["rsp"] - 8}  # lea -8(%rsp), %eax
    assert run("4a 8d 04 a5 10 00 00 00").registers == {"rax": regs["r12"] * 4 + 0x10}
    assert run("48 8d 04 25 10 00 00 00").registers == {"rax": 0x10}  # no base, no index
    assert run("8d 47 ff", at=0).registers == {"rax": regs["rdi"] - 1}
    assert asked == []
    jump = run("eb 10")
    assert (jump.next_rip, jump.after, jump.registers) == (0x400 + 2 + 0x10, 0x402, {})
    back = run("e9 f0 ff ff ff")
    assert (back.next_rip, back.after) == (0x400 + 5 - 0x10, 0x405)
    # Out of the canonical lower half, the processor faults on the jmp itself (#GP), not
    # at its target: stepped.
    assert run("e9 ff ff ff 7f", at=0x7FFFA0000100) is None
    assert run("e9 00 f0 ff ff", at=0x100) is None  # below zero
    assert run("e9 f0 ff ff 7f", at=0x7FFF80000000).next_rip == 0x7FFFFFFFFFF5  # just under
    load = run("48 8b 05 00 01 00 00")  # mov 0x100(%rip), %rax
    assert load.registers == {"rax": 0x1122334455667788} and asked == [(0x400 + 7 + 0x100, 8)]
    asked.clear()
    assert run("44 8b 0d 00 01 00 00").registers == {"r9": 0x55667788}  # mov ..., %r9d
    assert asked == [(0x400 + 7 + 0x100, 4)]
    asked.clear()
    cmpq = run("48 83 3d 00 01 00 00 00")  # cmpq $0, 0x100(%rip)
    assert cmpq.next_rip == 0x408 and asked == [(0x408 + 0x100, 8)]
    assert cmpq.registers == {"eflags": 0x202 | PF}  # 0x1122334455667788 - 0: 0x88, even
    asked.clear()
    assert run("83 3d 00 01 00 00 ff").registers == {"eflags": 0x202 | CF | AF}  # cmpl $-1
    assert asked == [(0x407 + 0x100, 4)]
    assert carry_out(_word("48 8b 05 00 01 00 00"), 0x400, regs.__getitem__,
                     lambda at, size: None) is None  # memory the processor could not read


@pytest.mark.parametrize("spelled", [
    "90",                    # nop
    "c3",                    # ret
    "66 90",                 # a prefix
    "48 8b 47 08",           # mov 0x8(%rdi), %rax: memory not at a displacement from RIP
    "64 48 8b 04 25 28 00",  # mov %fs:0x28, %rax: a prefix (and nine bytes)
    "48 8d c0",              # lea with a register operand: undefined (#UD)
    "48 e9 00 00 00 00",     # jmp after a REX
    "48 83 2d 00 00 00 00 01",  # subq $1, disp32(%rip): a write to memory
    "48 81 3d 00 00 00 00 01",  # cmpq $imm32, disp32(%rip): eleven bytes
    "48 89 7d f8",           # mov %rdi, -0x8(%rbp): memory
    "48 c7 c0 01 00 00 00",  # mov $1, %rax (sign-extended imm32)
    "48 b8 01 00 00 00 00 00",  # movabs: ten bytes
    "48 83 c4 08",           # add $8, %rsp
    "80 3f 00",              # cmpb $0, (%rdi): memory other than RIP-relative
    "0f 05",                 # syscall
    "f3 0f 1e fb",           # endbr32
])
def test_other_instructions_are_not_carried_out(spelled):
    assert carry_out(_word(spelled), 0x400, lambda name: 0, lambda at, size: 0) is None


# ------------------------------------------------------------------- random instructions
#
# A child stopped under ptrace with a page of code at CODE (read, write, execute) and
# data and a stack above it: each random instruction carry_out accepts is written there,
# followed by int3, run once from random registers and flags, and the registers, flags
# and memory compared with what carry_out said.

ARENA = r"""
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
int main(void)
{
    if (mmap((void *)0x10000000, 0x3000, PROT_READ | PROT_WRITE | PROT_EXEC,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED)
        return 1;
    ptrace(PTRACE_TRACEME, 0, 0, 0);
    raise(SIGSTOP);
    return 2;
}
"""
CODE, DATA, STACK = 0x10000000, 0x10001000, 0x10002800
EDGES = VALUES
# What a first byte may be: nothing, each REX, legacy prefixes (refused); then an opcode
# among those decoded, and bytes at random.
FIRST = [None] * 6 + list(range(0x40, 0x50)) + [0x66, 0xF2, 0xF3, 0x67, 0x2E, 0xF0, 0x64]
OPCODES = (list(range(0x50, 0x58)) + list(range(0xB8, 0xC0))
           + [0x89, 0x8B, 0x85, 0x31, 0x33, 0x29, 0x2B, 0x39, 0x3B, 0x81, 0x83, 0x80, 0x80]
           + [0x8D, 0x8D, 0x8B, 0x83, 0xEB, 0xE9])
# The ModRM of a RIP-relative operand for each opcode that reads one: cmpb $imm8 and
# cmp $imm8 (/7), mov's register at random.
RIP_RELATIVE = {0x80: lambda rnd: 0x3D, 0x83: lambda rnd: 0x3D,
                0x8B: lambda rnd: rnd.randrange(8) << 3 | 5}


def _instruction(rnd: random.Random) -> bytes:
    spelled = [] if (first := rnd.choice(FIRST)) is None else [first]
    spelled.append(opcode := rnd.choice(OPCODES))
    if opcode in (0xEB, 0xE9) and first is None:  # a jump onto one of the int3s after it
        length = 2 if opcode == 0xEB else 5
        spelled += list(rnd.randrange(16 - length).to_bytes(length - 1, "little"))
    elif opcode in RIP_RELATIVE and rnd.random() < 0.6:  # disp32(%rip), into DATA
        width = 1 if opcode == 0x80 else 8 if first and first & 8 else 4
        length = len(spelled) + 5 + (opcode != 0x8B)
        target = DATA + rnd.randrange(0x1000 - width + 1)
        spelled += [RIP_RELATIVE[opcode](rnd),
                    *(target - (CODE + length)).to_bytes(4, "little", signed=True)]
    else:
        spelled.append(rnd.getrandbits(8) | (0xC0 if rnd.random() < 0.7 else 0))
    spelled += [rnd.getrandbits(8) for _ in range(8 - len(spelled))]
    return bytes(spelled[:8])


def test_random_instructions_are_carried_out_as_the_processor_runs_them(tmp_path):
    subprocess.run(["gcc", "-O1", "-o", str(tmp_path / "arena"), "-x", "c", "-"],
                   input=ARENA, text=True, check=True, timeout=60)
    rnd = random.Random(20261205)
    pid = os.fork()
    if pid == 0:
        os.execv(str(tmp_path / "arena"), ["arena"])
    try:
        _, status = os.waitpid(pid, 0)
        assert os.WIFSTOPPED(status), status
        carried = 0
        for _ in range(6000):
            code = _instruction(rnd)
            start = {name: rnd.choice(EDGES) if rnd.random() < 0.5 else rnd.getrandbits(64)
                     for name in REGISTERS}
            start["rsp"] = STACK + 8 * rnd.randrange(64)
            # The arithmetic flags and DF at random; IF and bit 1 as user code has them.
            start["eflags"] = 0x202 | (rnd.getrandbits(12) & (ARITHMETIC | 0x400))
            if rnd.random() < 0.1:
                pt.poke(pid, DATA + 8 * rnd.randrange(0x200), rnd.getrandbits(64))

            def read(at, size):
                if not DATA <= at <= DATA + 0x1000 - size:
                    return None
                words = b"".join(pt.peek(pid, w).to_bytes(8, "little")
                                 for w in range(at & ~7, at + size, 8))
                return int.from_bytes(words[at & 7:(at & 7) + size], "little")

            done = carry_out(int.from_bytes(code, "little"), CODE, start.__getitem__, read)
            if done is None:
                continue
            length = done.after - CODE
            placed = code[:length] + b"\xcc" * (16 - length)
            pt.poke(pid, CODE, int.from_bytes(placed[:8], "little"))
            pt.poke(pid, CODE + 8, int.from_bytes(placed[8:], "little"))
            regs = pt.get_regs(pid)
            for name, value in start.items():
                setattr(regs, name, value)
            regs.rip = CODE
            pt.set_regs(pid, regs)
            pt.call(pt.PTRACE_CONT, pid, 0, 0)
            _, status = os.waitpid(pid, 0)
            assert os.WIFSTOPPED(status) and os.WSTOPSIG(status) == signal.SIGTRAP, \
                (code.hex(" "), status)
            after, expected = pt.get_regs(pid), {**start, **done.registers}
            told = (code.hex(" "), {k: hex(v) for k, v in start.items()})
            assert after.rip == done.next_rip + 1, told  # stopped by the int3 after it
            assert {n: getattr(after, n) for n in REGISTERS} == \
                {n: expected[n] for n in REGISTERS}, told
            opcode = code[1] if 0x40 <= code[0] <= 0x4F else code[0]
            undefined = AF if opcode in (0x85, 0x31, 0x33) else 0
            assert (after.eflags ^ expected["eflags"]) & (ARITHMETIC | 0x400) & ~undefined \
                == 0, told
            if done.pushed is not None:
                assert pt.peek(pid, done.pushed[0]) == done.pushed[1], told
            carried += 1
        assert carried > 2500  # most of the random strings are forms carried out
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
